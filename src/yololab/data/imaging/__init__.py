"""Reading images: decoding (8/16-bit, DICOM, multi-band TIFF), EXIF orientation, reduced JPEG decoding, the pixel spec and normalisation."""
