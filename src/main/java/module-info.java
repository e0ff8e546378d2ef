// SPDX-License-Identifier: Apache-2.0
/**
 * maskformer-java: MaskFormer semantic segmentation through the Foreign Function & Memory API.
 *
 * <p>{@code dev.maskformer} is the API: models, frames, options, results and the process-wide
 * runtime; it needs no AWT. {@code dev.maskformer.images} reads image files and renders results
 * with AWT's image classes: it needs {@code java.desktop}, which this module requires only
 * statically, so a runtime image without it runs everything else. The FFM glue ({@code dev.maskformer.internal}) and the
 * generated bindings ({@code dev.maskformer.internal.ffi}) are implementation. The command line
 * and the Flink integration are class-path code of their own artifacts. Run with {@code --enable-native-access=dev.maskformer}
 * on the module path, or {@code --enable-native-access=ALL-UNNAMED} on the class path.
 */
module dev.maskformer {
  // only dev.maskformer.images uses AWT's image classes (BufferedImage, ImageIO)
  requires static java.desktop;
  exports dev.maskformer;
  exports dev.maskformer.images;
}
