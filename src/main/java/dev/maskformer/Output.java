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
 * @param regionIds {@code null}, or at least {@code width * height * 4} bytes, 4-byte aligned:
 *     int32 segment ids (0 = no segment), written when the call's {@link SegmentOptions} asks
 *     for segments
 * @param confidence {@code null}, or at least {@code width * height * confidenceType.bytes()}
 *     bytes: the winning class's score at each pixel
 * @param confidenceType element type of the confidence; {@code null} when there is none
 */
public record Output(MemorySegment labels, LabelType labelType, MemorySegment scores,
    MemorySegment regionIds, MemorySegment confidence, ConfidenceType confidenceType) {
  /** Labels and optional scores only. */
  public Output(MemorySegment labels, LabelType labelType, MemorySegment scores) {
    this(labels, labelType, scores, null, null, null);
  }

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
    if (regionIds != null) {
      Checks.nativeSegment(regionIds, "regionIds");
      Checks.writable(regionIds, "regionIds");
      Checks.aligned(regionIds, 4, "regionIds");
    }
    if ((confidence == null) != (confidenceType == null)) {
      throw new IllegalArgumentException("confidence and confidenceType go together: got "
          + confidence + " and " + confidenceType);
    }
    if (confidence != null) {
      Checks.nativeSegment(confidence, "confidence");
      Checks.writable(confidence, "confidence");
      if (confidenceType == ConfidenceType.F32) {
        Checks.aligned(confidence, 4, "float confidence");
      }
    }
  }

  /** Labels only. */
  public static Output labels(MemorySegment labels, LabelType labelType) {
    return new Output(labels, labelType, null);
  }

  /** The same labels, plus per-class scores into {@code scores}. */
  public Output withScores(MemorySegment scores) {
    return new Output(labels, labelType, Objects.requireNonNull(scores, "scores"), regionIds,
        confidence, confidenceType);
  }

  /** The same outputs, plus int32 segment ids into {@code ids}. */
  public Output withRegionIds(MemorySegment ids) {
    return new Output(labels, labelType, scores, Objects.requireNonNull(ids, "ids"), confidence,
        confidenceType);
  }

  /** The same outputs, plus a confidence map of {@code type} into {@code confidence}. */
  public Output withConfidence(MemorySegment confidence, ConfidenceType type) {
    return new Output(labels, labelType, scores, regionIds,
        Objects.requireNonNull(confidence, "confidence"), Objects.requireNonNull(type, "type"));
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
    if (regionIds != null && regionIds.byteSize() < layout.pixels() * 4) {
      throw new IllegalArgumentException("output " + index + ": regionIds hold "
          + regionIds.byteSize() + " bytes, a " + layout.width() + "x" + layout.height()
          + " int32 map needs " + layout.pixels() * 4);
    }
    if (confidence != null && confidence.byteSize() < layout.pixels() * confidenceType.bytes()) {
      throw new IllegalArgumentException("output " + index + ": confidence holds "
          + confidence.byteSize() + " bytes, a " + layout.width() + "x" + layout.height() + " "
          + confidenceType + " map needs " + layout.pixels() * confidenceType.bytes());
    }
  }

  /** Element type of a confidence map (the winning class's score at each pixel). */
  public enum ConfidenceType {
    /** One unsigned byte per pixel: round(255 * min(score, 1)). */
    U8(0, 1),
    /** One 32-bit float per pixel, 4-byte aligned: the score itself (it may exceed 1). */
    F32(1, 4);

    private final int code;
    private final int bytes;

    ConfidenceType(int code, int bytes) {
      this.code = code;
      this.bytes = bytes;
    }

    /** The native {@code mf_confidence_type} value. */
    public int code() {
      return code;
    }

    /** Bytes per pixel. */
    public int bytes() {
      return bytes;
    }
  }

  /** Element type of a label map. */
  public enum LabelType {
    /** One unsigned byte per pixel; models with at most 256 classes. */
    U8(0, 1),
    /** One 32-bit little-endian integer per pixel, 4-byte aligned; any number of classes. */
    I32(1, 4);

    private final int code;
    private final int bytes;

    LabelType(int code, int bytes) {
      this.code = code;
      this.bytes = bytes;
    }

    /** The native {@code mf_label_type} value. */
    public int code() {
      return code;
    }

    /** Bytes per label. */
    public int bytes() {
      return bytes;
    }

    /** The smallest type that holds labels 0..numClasses-1. */
    public static LabelType forClasses(int numClasses) {
      return numClasses <= 256 ? U8 : I32;
    }
  }
}
