"""Building blocks shared by the YOLOv5 and YOLOv7 families (one idea per file)."""

from yololab.layers.conv import Conv, autopad, fuse_conv_bn
from yololab.layers.csp import C3, Bottleneck
from yololab.layers.elan import ELAN, MPDown
from yololab.layers.implicit import ImplicitA, ImplicitM
from yololab.layers.repconv import RepConv
from yololab.layers.spp import SPPCSPC, SPPF, SPPCSPTiny

__all__ = [
    "Conv", "autopad", "fuse_conv_bn", "C3", "Bottleneck", "ELAN", "MPDown",
    "ImplicitA", "ImplicitM", "RepConv", "SPPF", "SPPCSPC", "SPPCSPTiny",
]
