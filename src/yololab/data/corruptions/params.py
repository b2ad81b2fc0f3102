"""The reference parameters per severity 1-5 (Hendrycks & Dietterich 2019, as adapted to images of any
size by bethgelab/imagecorruptions 1.1.x), one table per corruption, index = severity - 1."""

from __future__ import annotations

GAUSSIAN_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)  # of [0, 1] pixel values
SHOT_NOISE_PHOTONS = (60, 25, 12, 5, 3)  # Poisson(x * c) / c
IMPULSE_NOISE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)  # fraction of values set to 0 or 1 (half each)
SPECKLE_NOISE_STD = (0.15, 0.2, 0.35, 0.45, 0.6)  # x + x * N(0, c)

GAUSSIAN_BLUR_SIGMA = (1, 2, 3, 4, 6)
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # (sigma, max delta, iterations)
DEFOCUS_BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # (disk radius, alias blur sigma)
MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # (radius, sigma); angle U(-45, 45) degrees
ZOOM_BLUR = (  # (first, stop, step) of the zoom factors, numpy.arange(first, stop, step)
    (1.0, 1.11, 0.01), (1.0, 1.16, 0.01), (1.0, 1.21, 0.02), (1.0, 1.26, 0.02), (1.0, 1.31, 0.03))

# (mean, std, zoom, threshold, blur radius, blur sigma, image blend)
SNOW = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))
FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))  # (image weight, frost weight)
FOG = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))  # (fog weight, plasma wibble decay)
# (mean, std, sigma, threshold, intensity / mud sigma, mud?)
SPATTER = ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
           (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1))

BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to HSV value
CONTRAST_FACTOR = (0.4, 0.3, 0.2, 0.1, 0.05)  # (x - channel mean) * c + channel mean
SATURATE = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))  # HSV saturation * a + b
JPEG_QUALITY = (25, 18, 15, 10, 7)
PIXELATE_FACTOR = (0.6, 0.5, 0.4, 0.3, 0.25)  # box-downscale by c, nearest-upscale back
ELASTIC_ALPHA = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)  # displacement gain
ELASTIC_SIGMA = 0.01  # of the image height and width: smoothing of the displacement field
ELASTIC_MAX = 0.005  # of the image height: the uniform displacement before smoothing
