// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import java.util.Objects;
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
 * <p>At most {@code capacity} frames per subtask are in flight (a full operator back-pressures its
 * input), a frame not done within {@code timeout} fails the task, and every frame in flight is
 * finished and emitted before a checkpoint barrier passes the operator, so checkpoints hold no
 * frames (their size does not grow with the frames) and the operator itself loses and duplicates
 * no frame. See {@link SegmentOperator}.
 */
public final class MaskFormerFlink {
  private MaskFormerFlink() {}

  /** Segments every frame of {@code frames}; ordered or unordered as the config says. */
  public static SingleOutputStreamOperator<SegmentedFrame> segment(DataStream<VideoFrame> frames,
      SegmentConfig config) {
    Objects.requireNonNull(frames, "frames");
    Objects.requireNonNull(config, "config");
    return frames.transform("maskformer-segment", FrameSerializers.FrameTypeInfo.segmentedFrames(),
        new SegmentOperator.Factory(config));
  }
}
