// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * A width and a height in pixels.
 *
 * @param width 1..{@link ImageLayout#MAX_SIDE}
 * @param height 1..{@link ImageLayout#MAX_SIDE}
 */
public record Size(int width, int height) {
  public Size {
    if (width < 1 || width > ImageLayout.MAX_SIDE || height < 1 || height > ImageLayout.MAX_SIDE) {
      throw new IllegalArgumentException("size " + width + "x" + height + " outside 1.." + ImageLayout.MAX_SIDE);
    }
  }

  /** Parses {@code WxH}, e.g. {@code 1920x1080}. */
  public static Size parse(String text) {
    String[] parts = text.trim().toLowerCase(java.util.Locale.ROOT).split("x");
    if (parts.length != 2) {
      throw new IllegalArgumentException("size must be WxH, e.g. 512x512, got '" + text + "'");
    }
    try {
      return new Size(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("size must be WxH, e.g. 512x512, got '" + text + "'");
    }
  }

  @Override
  public String toString() {
    return width + "x" + height;
  }
}
