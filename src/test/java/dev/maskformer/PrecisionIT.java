// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** bf16 on the CPU against fp32: the labels a trained model gives must barely move. */
class PrecisionIT {
  @Test
  void bf16LabelsAgreeWithFp32OnTheValidationScenes() throws IOException {
    assumeTrue(MaskFormerRuntime.info().cpuNativeBf16(), "no native bf16 on this CPU (RuntimeIT checks the refusal)");
    Path demo = TestModels.demoModel();
    Path split = TestModels.dir().resolve("eval/images/validation");
    assumeTrue(Files.isDirectory(split), "no evaluation fixture");
    List<Path> images;
    try (Stream<Path> files = Files.list(split)) {
      images = files.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
    }
    assertTrue(images.size() >= 10, "validation scenes: " + images.size());
    long same = 0;
    long total = 0;
    try (MaskFormer fp32 = MaskFormer.load(demo);
        MaskFormer bf16 = MaskFormer.load(demo, LoadOptions.DEFAULTS.withPrecision(Precision.BF16))) {
      for (Path image : images) {
        try (Segmentation a = Images.segment(fp32, image, SegmentOptions.DEFAULTS); Segmentation b = Images.segment(bf16, image, SegmentOptions.DEFAULTS)) {
          int[] la = a.toIntArray();
          int[] lb = b.toIntArray();
          for (int i = 0; i < la.length; i++) {
            same += la[i] == lb[i] ? 1 : 0;
          }
          total += la.length;
        }
      }
    }
    double agreement = (double) same / total;
    System.out.printf("bf16 vs fp32 on %d validation scenes (%d pixels): %.5f of the labels agree%n",
        images.size(), total, agreement);
    assertTrue(agreement >= 0.995, "agreement " + agreement);
  }
}
