"""The built-in backbones and their one-line descriptions, readable without importing torch.

``yololab models`` prints this table; a test keeps it equal to what the registry holds once every
backbone module has registered itself, so a new backbone file also adds its line here.
"""

BUILTIN_BACKBONES: dict[str, str] = {
    'cspdarknet': "YOLOv5's CSPDarknet (C3 stages), scaled with the model (n/s/m/l/x)",
    'cspdarknet53': "CSPDarknet-53, YOLOv4's backbone (timm)",
    'darknet53': "Darknet-53, YOLOv3's backbone (timm)",
    'elan': "YOLOv7's ELAN backbone; variant follows the model (tiny/base/x)",
    'hgnetv2_b0': "PP-HGNetV2-B0, RT-DETR's backbone (timm)",
    'hgnetv2_b1': "PP-HGNetV2-B1, RT-DETR's backbone (timm)",
    'hgnetv2_b2': "PP-HGNetV2-B2, RT-DETR's backbone (timm)",
    'hgnetv2_b3': "PP-HGNetV2-B3, RT-DETR's backbone (timm)",
    'hgnetv2_b4': "PP-HGNetV2-B4, RT-DETR's backbone (timm)",
    'hgnetv2_b5': "PP-HGNetV2-B5, RT-DETR's backbone (timm)",
    'hgnetv2_b6': "PP-HGNetV2-B6, RT-DETR's backbone (timm)",
    'resnet101': 'ResNet-101 (timm)',
    'resnet50': 'ResNet-50 (timm)',
    'timm:<name>': 'any timm model with stride-8/16/32 features (features_only)',
    'torchvision:<name>': 'torchvision ResNet/ResNeXt/Wide-ResNet (torchvision weight format)',
}
