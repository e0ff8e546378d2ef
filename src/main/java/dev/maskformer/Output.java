// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Where the results of one frame go: caller-owned off-heap memory, written during the call.
 *
 * <p>The label map has the frame's size, row-major, {@code labelType.bytes()} per pixel. The
 * optional scores are {@code numClasses x height x width} floats (class-major): the values the
 * argmax picks the labels from.
 *
 * @param labels at least {@code width * height * labelType.bytes()} bytes
 * @param labelType element type of the labels
 * @param scores {@code null}, or at least {@code numClasses * width * height * 4} bytes, 4-byte
 *     aligned
 */
public record Output(MemorySegment labels, LabelType labelType, MemorySegment scores) {
  public Output {
    Objects.requireNonNull(labels, "labels");
    Objects.requireNonNull(labelType, "labelType");
    Checks.nativeSegment(labels, "labels");
    Checks.writable(labels, "labels");
    if (labelType == LabelType.I32) {
      Checks.aligned(labels, 4, "int32 labels");
    }
    if (scores != null) {
      Checks.nativeSegment(scores, "scores");
      Checks.writable(scores, "scores");
      Checks.aligned(scores, 4, "scores");
    }
  }

  /** Labels only. */
  public static Output labels(MemorySegment labels, LabelType labelType) {
    return new Output(labels, labelType, null);
  }

  /** The same labels, plus per-class scores into {@code scores}. */
  public Output withScores(MemorySegment scores) {
    return new Output(labels, labelType, Objects.requireNonNull(scores, "scores"));
  }

  void checkFits(ImageLayout layout, int numClasses, int index) {
    long need = layout.pixels() * labelType.bytes();
    if (labels.byteSize() < need) {
      throw new IllegalArgumentException("output " + index + ": labels hold " + labels.byteSize()
          + " bytes, a " + layout.width() + "x" + layout.height() + " " + labelType + " map needs "
          + need);
    }
    if (labelType == LabelType.U8 && numClasses > 256) {
      throw new IllegalArgumentException("output " + index + ": uint8 labels hold at most 256 "
          + "classes, the model has " + numClasses + "; use LabelType.I32");
    }
    if (scores != null) {
      long needScores = layout.pixels() * numClasses * Float.BYTES;
      if (scores.byteSize() < needScores) {
        throw new IllegalArgumentException("output " + index + ": scores hold " + scores.byteSize()
            + " bytes, " + numClasses + " x " + layout.height() + " x " + layout.width()
            + " floats need " + needScores);
      }
    }
  }
}
