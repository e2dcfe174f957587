// libjpeg-turbo, libpng, libwebp, giflib and libtiff (Debian: libjpeg62-turbo-dev, libpng-dev, libwebp-dev,
// libgif-dev, libtiff-dev).
#include <stdio.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <gif_lib.h>
#include <tiffio.h>
