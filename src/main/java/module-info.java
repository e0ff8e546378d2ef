// SPDX-License-Identifier: Apache-2.0
/**
 * maskformer-java: MaskFormer semantic segmentation through the Foreign Function & Memory API.
 *
 * <p>Only {@code dev.maskformer} is API. The FFM glue ({@code dev.maskformer.internal}) and the
 * generated bindings ({@code dev.maskformer.internal.ffi}) are implementation. The command line
 * and the Flink integration are class-path code of their own artifacts. Run with {@code --enable-native-access=dev.maskformer}
 * on the module path, or {@code --enable-native-access=ALL-UNNAMED} on the class path.
 */
module dev.maskformer {
  // the image helpers (Images, segment(BufferedImage)) use AWT's image classes
  requires transitive java.desktop;
  exports dev.maskformer;
}
