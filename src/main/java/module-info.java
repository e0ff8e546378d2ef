// SPDX-License-Identifier: Apache-2.0
/**
 * maskformer-java: MaskFormer semantic segmentation through the Foreign Function & Memory API.
 *
 * <p>Only {@code dev.maskformer} is API. The FFM glue ({@code dev.maskformer.internal}), the
 * generated bindings ({@code dev.maskformer.internal.ffi}) and the command line ({@code
 * dev.maskformer.cli}) are implementation. Run with {@code --enable-native-access=dev.maskformer}
 * on the module path, or {@code --enable-native-access=ALL-UNNAMED} on the class path.
 */
module dev.maskformer {
  // the image helpers (Images, segment(BufferedImage)) use AWT's image classes
  requires transitive java.desktop;
  // only the command line (dev.maskformer.cli) uses picocli: users of the library need not have it
  requires static info.picocli;

  exports dev.maskformer;

  opens dev.maskformer.cli to
      info.picocli;
}
