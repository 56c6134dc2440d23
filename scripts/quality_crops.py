"""Side-by-side crops of pictures of one photo, for docs/quality.md: the flattest tile and a corner.

    python scripts/quality_crops.py PHOTO OUT.jpg --size 512 before.png after.png ...

For every picture (same size, the photo at that size), the top row shows the photo's flattest
``--tile`` px tile (:func:`painterly.quality.flattest_tiles`) and the bottom row the top-left
corner, both enlarged ``--zoom`` times with nearest-neighbour sampling, in the order given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from painterly.image import fit_long_side, image_size, load_image, resize
from painterly.quality import flattest_tiles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("out")
    parser.add_argument("pictures", nargs="+")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--zoom", type=int, default=4)
    parser.add_argument("--corner", choices=("top-left", "top-right"), default="top-left")
    arguments = parser.parse_args()
    photo = load_image(arguments.photo)
    photo = resize(photo, fit_long_side(*image_size(photo), arguments.size))
    top, left = flattest_tiles(photo, tile=arguments.tile)[0]
    tile, zoom, gap = arguments.tile, arguments.zoom, 8
    side = tile * zoom
    sheet = Image.new("RGB", (len(arguments.pictures) * (side + gap) - gap, 2 * side + gap), "white")
    for column, path in enumerate(arguments.pictures):
        picture = Image.open(path).convert("RGB")
        corner_left = 0 if arguments.corner == "top-left" else picture.width - tile
        for row, box in enumerate(((left, top, left + tile, top + tile), (corner_left, 0, corner_left + tile, tile))):
            crop = picture.crop(box).resize((side, side), Image.Resampling.NEAREST)
            sheet.paste(crop, (column * (side + gap), row * (side + gap)))
    sheet.save(Path(arguments.out), quality=92)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
