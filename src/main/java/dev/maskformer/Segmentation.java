// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Output.ConfidenceType;
import dev.maskformer.Output.LabelType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The result of segmenting one frame: a label map off-heap (and, when asked for, per-class scores,
 * a segment-id map with its {@link Region}s, a confidence map), the frame's size.
 *
 * <p>Thread-safety: reads may happen from any thread; {@link #close()} must not race with them.
 *
 * <p>Ownership: owns its memory; {@link #close()} frees it (idempotent). Segments returned by
 * {@link #labels()} and {@link #scores()} become inaccessible then.
 */
public final class Segmentation implements AutoCloseable {
  private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

  private final Arena arena;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final MemorySegment labels;
  private final MemorySegment scores;
  private final LabelType labelType;
  private final MemorySegment segmentIds;
  private final MemorySegment confidence;
  private final ConfidenceType confidenceType;
  private List<Region> segments = List.of();
  private final int width;
  private final int height;
  private final List<ClassInfo> classes;

  private Segmentation(Arena arena, int width, int height, LabelType type, boolean withScores,
      boolean withSegments, ConfidenceType confidenceType, List<ClassInfo> classes) {
    this.arena = arena;
    this.width = width;
    this.height = height;
    this.labelType = type;
    this.classes = classes;
    long pixels = (long) width * height;
    this.labels = arena.allocate(pixels * type.bytes(), 64);
    this.scores = withScores ? arena.allocate(pixels * classes.size() * Float.BYTES, 64) : null;
    this.segmentIds = withSegments ? arena.allocate(pixels * Integer.BYTES, 64) : null;
    this.confidenceType = confidenceType;
    this.confidence = confidenceType != null ? arena.allocate(pixels * confidenceType.bytes(), 64) : null;
  }

  /** Off-heap result memory for a frame of this size; used by {@link MaskFormer}. */
  static Segmentation allocate(int width, int height, LabelType type, boolean withScores,
      boolean withSegments, ConfidenceType confidenceType, List<ClassInfo> classes) {
    Arena arena = Arena.ofShared();
    try {
      return new Segmentation(arena, width, height, type, withScores, withSegments, confidenceType,
          classes);
    } catch (RuntimeException | OutOfMemoryError e) {
      arena.close();
      throw e;
    }
  }

  /** Where the native call writes. */
  Output output() {
    return new Output(labels, labelType, scores, segmentIds, confidence, confidenceType);
  }

  void setSegments(List<Region> found) {
    this.segments = List.copyOf(found);
  }

  public int width() {
    return width;
  }

  public int height() {
    return height;
  }

  public LabelType labelType() {
    return labelType;
  }

  /** Number of classes of the model that produced this result. */
  public int numClasses() {
    return classes.size();
  }

  /** The model's classes, in label order. */
  public List<ClassInfo> classes() {
    return classes;
  }

  /** The label map: {@code width * height} labels, row-major, read-only. */
  public MemorySegment labels() {
    return labels.asReadOnly();
  }

  /** The label at column x, row y. */
  public int label(int x, int y) {
    Objects.checkIndex(x, width);
    Objects.checkIndex(y, height);
    long i = (long) y * width + x;
    return labelType == LabelType.U8
        ? Byte.toUnsignedInt(labels.get(ValueLayout.JAVA_BYTE, i))
        : labels.get(I32, i * 4);
  }

  /** Per-class scores, {@code numClasses x height x width} floats, if they were asked for. */
  public Optional<MemorySegment> scores() {
    return Optional.ofNullable(scores).map(MemorySegment::asReadOnly);
  }

  /** The score of class {@code label} at (x, y); needs scores. */
  public float score(int label, int x, int y) {
    if (scores == null) {
      throw new IllegalStateException("this segmentation was made without scores; "
          + "use SegmentOptions.withScores(true)");
    }
    Objects.checkIndex(label, classes.size());
    Objects.checkIndex(x, width);
    Objects.checkIndex(y, height);
    return scores.get(F32, (((long) label * height + y) * width + x) * 4);
  }

  /**
   * The segments ({@link SegmentOptions#withRegions}) by ascending id; empty when none were
   * found or asked for.
   */
  public List<Region> regions() {
    return segments;
  }

  /**
   * The segment-id map, {@code width * height} int32 values, row-major, read-only: each pixel's
   * {@link Region#id()}, 0 for no segment. Present when segments were asked for.
   */
  public Optional<MemorySegment> regionIds() {
    return Optional.ofNullable(segmentIds).map(MemorySegment::asReadOnly);
  }

  /** The segment id at (x, y), 0 for no segment; needs segments. */
  public int regionId(int x, int y) {
    if (segmentIds == null) {
      throw new IllegalStateException("this segmentation was made without segments; "
          + "use SegmentOptions.withRegions");
    }
    Objects.checkIndex(x, width);
    Objects.checkIndex(y, height);
    return segmentIds.get(I32, ((long) y * width + x) * 4);
  }

  /** A copy of the segment-id map as an int array, row-major; needs segments. */
  public int[] regionIdArray() {
    if (segmentIds == null) {
      throw new IllegalStateException("this segmentation was made without segments; "
          + "use SegmentOptions.withRegions");
    }
    int n = Math.toIntExact((long) width * height);
    int[] out = new int[n];
    MemorySegment.copy(segmentIds, I32, 0, out, 0, n);
    return out;
  }

  /**
   * The confidence map ({@link SegmentOptions#withConfidence}): the winning class's score at each
   * pixel, {@code width * height} values of {@link #confidenceType()}, read-only.
   */
  public Optional<MemorySegment> confidence() {
    return Optional.ofNullable(confidence).map(MemorySegment::asReadOnly);
  }

  /** Element type of {@link #confidence()}, or {@code null} without one. */
  public ConfidenceType confidenceType() {
    return confidenceType;
  }

  /** The confidence at (x, y) as a float (uint8 maps give value / 255); needs a confidence map. */
  public float confidence(int x, int y) {
    if (confidence == null) {
      throw new IllegalStateException("this segmentation was made without confidence; "
          + "use SegmentOptions.withConfidence");
    }
    Objects.checkIndex(x, width);
    Objects.checkIndex(y, height);
    long i = (long) y * width + x;
    return confidenceType == ConfidenceType.U8
        ? Byte.toUnsignedInt(confidence.get(ValueLayout.JAVA_BYTE, i)) / 255f
        : confidence.get(F32, i * 4);
  }

  /** A copy of the labels as an int array, row-major. */
  public int[] toIntArray() {
    int n = Math.toIntExact((long) width * height);
    int[] out = new int[n];
    if (labelType == LabelType.I32) {
      MemorySegment.copy(labels, I32, 0, out, 0, n);
    } else {
      byte[] bytes = new byte[n];
      MemorySegment.copy(labels, ValueLayout.JAVA_BYTE, 0, bytes, 0, n);
      for (int i = 0; i < n; i++) {
        out[i] = Byte.toUnsignedInt(bytes[i]);
      }
    }
    return out;
  }

  /** Pixels per class, indexed by label. */
  public long[] histogram() {
    long[] counts = new long[classes.size()];
    for (int label : toIntArray()) {
      counts[label]++;
    }
    return counts;
  }

  /** Frees the memory. Idempotent. */
  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      arena.close();
    }
  }

  /**
   * One segment of a frame: the pixels whose value in the segment-id map is {@code id}.
   *
   * @param id 1.. as in the segment-id map (0 there means "no segment")
   * @param label the class, 0..K-1
   * @param score mean over the segment's pixels of the owning query's class probability x its mask
   *     probability; for a segment of one query: class probability x mean mask probability inside
   *     the segment
   * @param area pixels
   * @param x first column of the bounding box
   * @param y first row of the bounding box
   * @param width bounding box width
   * @param height bounding box height
   * @param query the (first) query of the model that made the segment
   */
  public record Region(
      int id, int label, float score, long area, int x, int y, int width, int height, int query) {}
}
