// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;

/**
 * Segmentation as a Flink DataStream operator.
 *
 * <pre>{@code
 * DataStream<VideoFrame> frames = env.fromSource(FrameSource.of(inputs), WatermarkStrategy.noWatermarks(), "frames");
 * DataStream<SegmentedFrame> labels = MaskFormerFlink.segment(frames,
 *     SegmentConfig.of("/models/swin-tiny.pt").withBatching(8, Duration.ofMillis(20)));
 * labels.sinkTo(LabelPngSink.labels(Path.of("/out")));
 * }</pre>
 *
 * <p>The operator is Flink's async I/O operator over {@link SegmentFunction}: at most {@code
 * capacity} frames per subtask are in flight (a full operator back-pressures its input), a frame
 * not done within {@code timeout} fails the task, and in-flight frames are part of each checkpoint
 * (they are segmented again after a restore), so the operator itself loses and duplicates no frame.
 */
public final class MaskFormerFlink {
  private MaskFormerFlink() {}

  /** Segments every frame of {@code frames}; ordered or unordered as the config says. */
  public static SingleOutputStreamOperator<SegmentedFrame> segment(DataStream<VideoFrame> frames,
      SegmentConfig config) {
    Objects.requireNonNull(frames, "frames");
    Objects.requireNonNull(config, "config");
    SegmentFunction f = new SegmentFunction(config);
    long timeout = config.timeout().toMillis();
    SingleOutputStreamOperator<SegmentedFrame> out = config.ordered()
        ? AsyncDataStream.orderedWait(frames, f, timeout, TimeUnit.MILLISECONDS, config.capacity())
        : AsyncDataStream.unorderedWait(frames, f, timeout, TimeUnit.MILLISECONDS, config.capacity());
    return out.name("maskformer-segment").returns(FrameSerializers.FrameTypeInfo.segmentedFrames());
  }
}
