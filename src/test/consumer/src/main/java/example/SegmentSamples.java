// SPDX-License-Identifier: Apache-2.0
package example;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.Frame;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.Segmentation;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a user's application does with maskformer-java from Maven: load a model, segment images,
 * name the classes that cover at least 1% of each. Usage: SegmentSamples MODEL IMAGE...
 * (README "Use it in your project" shows the core of it).
 */
public final class SegmentSamples {
  public static void main(String[] args) throws Exception {
    System.out.println("runtime: " + MaskFormerRuntime.info().libtorchLoaded() + " " + MaskFormerRuntime.info().libtorchFile());
    // --- README example ---
    try (MaskFormer model = MaskFormer.load(Path.of(args[0]));
         Arena arena = Arena.ofConfined()) {
      for (String file : List.of(args).subList(1, args.length)) {
        Frame frame = Images.read(Path.of(file), arena);     // off-heap RGB pixels
        try (Segmentation s = model.segment(frame)) {        // labels in native memory
          long[] pixels = s.histogram();                     // pixels per class
          List<String> names = new ArrayList<>();
          for (int label = 0; label < pixels.length; label++) {
            if (pixels[label] * 100 >= (long) s.width() * s.height()) {
              names.add(s.classes().get(label).shortName());
            }
          }
          System.out.println(Path.of(file).getFileName() + " " + s.width() + "x" + s.height() + ": " + names);
        }
      }
    }
    // --- end of README example ---
  }
}
