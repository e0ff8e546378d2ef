// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.images.Images;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * A bounded FLIP-27 source of {@link VideoFrame}s: each input (a video file that ffmpeg decodes,
 * a folder of images in name order, or one image) is a split and a stream; readers pull inputs one
 * at a time. Checkpoints keep each reader's position, so a restored job goes on with the first
 * frame not emitted before (exactly-once on the source side). Frame timestamps are {@code index *
 * 1000 / fps} ms with the video's own rate, or {@link Builder#fps} for images.
 *
 * <p>Image frames keep the pixel format that the library's {@code Images.read} gives (BGR for
 * most PNG and JPEG files). Videos in 4:2:0 with a BT.601, BT.709 or BT.2020 matrix (nearly all
 * video: ffmpeg's {@code yuv420p}, {@code yuvj420p}, {@code nv12}, {@code nv21}) are read as they
 * decode, YUV frames ({@code I420}, {@code NV12}, {@code NV21}) with the stream's colour matrix and
 * range, and the model converts them exactly as ffmpeg's {@code -pix_fmt rgb24} would: no swscale
 * step in the source and half the bytes of BGR per frame. Other video (4:2:2, 4:4:4, 10-bit, other
 * matrices) is converted to BGR by ffmpeg. {@link Builder#decode} chooses otherwise.
 */
public final class FrameSource
    implements Source<VideoFrame, FrameSplit, Collection<FrameSplit>>, ResultTypeQueryable<VideoFrame> {
  /** What videos are decoded to. */
  public enum Decode {
    /** YUV 4:2:0 as decoded where the library converts it as ffmpeg would (see above), else BGR. */
    AUTO,
    /** Always YUV ({@code I420}): ffmpeg converts other video to 4:2:0 first, the library the rest. */
    YUV,
    /** Always BGR, converted by ffmpeg (swscale), as before YUV frames were supported. */
    BGR
  }

  private static final Set<String> IMAGE_SUFFIXES = Set.of("png", "jpg", "jpeg", "bmp", "gif");

  private final List<FrameSplit> inputs;

  private FrameSource(List<FrameSplit> inputs) {
    this.inputs = List.copyOf(inputs);
  }

  /** A source of these inputs with the defaults (25 fps for images, all frames, {@code ffmpeg}). */
  public static FrameSource of(List<Path> inputs) {
    Builder b = builder();
    inputs.forEach(b::input);
    return b.build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Inputs and their options. */
  public static final class Builder {
    private record In(String streamId, Path path) {}

    private final List<In> inputs = new ArrayList<>();
    private double fps = 25;
    private long maxFrames = -1;
    private String ffmpeg = "ffmpeg";
    private Decode decode = Decode.AUTO;

    /** An input whose stream id is its file or folder name (without the extension). */
    public Builder input(Path path) {
      Objects.requireNonNull(path, "path");
      Path name = path.toAbsolutePath().normalize().getFileName();
      String id = name == null ? path.toString() : name.toString();
      if (!Files.isDirectory(path) && id.lastIndexOf('.') > 0) {
        id = id.substring(0, id.lastIndexOf('.'));
      }
      return input(id, path);
    }

    /** An input with its stream id. */
    public Builder input(String streamId, Path path) {
      inputs.add(new In(Objects.requireNonNull(streamId, "streamId"), Objects.requireNonNull(path, "path")));
      return this;
    }

    /** Frame rate of the timestamps of image inputs (default 25). */
    public Builder fps(double value) {
      if (!(value > 0)) {
        throw new IllegalArgumentException("fps must be > 0, got " + value);
      }
      fps = value;
      return this;
    }

    /** Frames to read per input at most (default: all). */
    public Builder maxFrames(long n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxFrames must be >= 1, got " + n);
      }
      maxFrames = n;
      return this;
    }

    /** The ffmpeg executable (ffprobe is looked for beside it). */
    public Builder ffmpeg(String executable) {
      ffmpeg = Objects.requireNonNull(executable, "executable");
      return this;
    }

    /** What videos are decoded to (default {@link Decode#AUTO}). */
    public Builder decode(Decode mode) {
      decode = Objects.requireNonNull(mode, "mode");
      return this;
    }

    /**
     * @throws IllegalArgumentException no inputs, an input that does not exist, or two inputs with
     *     one stream id
     */
    public FrameSource build() {
      if (inputs.isEmpty()) {
        throw new IllegalArgumentException("a FrameSource needs at least one input");
      }
      Set<String> ids = new LinkedHashSet<>();
      List<FrameSplit> splits = new ArrayList<>();
      for (In in : inputs) {
        if (!Files.exists(in.path())) {
          throw new IllegalArgumentException("no such video file or image folder: " + in.path());
        }
        if (!ids.add(in.streamId())) {
          throw new IllegalArgumentException("two inputs with stream id '" + in.streamId()
              + "': give them ids with input(streamId, path)");
        }
        boolean images = Files.isDirectory(in.path()) || isImage(in.path());
        splits.add(new FrameSplit(in.streamId(), in.path().toAbsolutePath().toString(),
            images ? FrameSplit.Kind.IMAGES : FrameSplit.Kind.VIDEO, 0, maxFrames, fps, ffmpeg, decode));
      }
      return new FrameSource(splits);
    }
  }

  static boolean isImage(Path file) {
    String name = file.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot > 0 && IMAGE_SUFFIXES.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
  }

  /** The inputs as splits, positioned at their first frame. */
  public List<FrameSplit> splits() {
    return inputs;
  }

  @Override
  public Boundedness getBoundedness() {
    return Boundedness.BOUNDED;
  }

  @Override
  public SplitEnumerator<FrameSplit, Collection<FrameSplit>> createEnumerator(
      SplitEnumeratorContext<FrameSplit> context) {
    return new Enumerator(context, inputs);
  }

  @Override
  public SplitEnumerator<FrameSplit, Collection<FrameSplit>> restoreEnumerator(
      SplitEnumeratorContext<FrameSplit> context, Collection<FrameSplit> checkpoint) {
    return new Enumerator(context, checkpoint);
  }

  @Override
  public SimpleVersionedSerializer<FrameSplit> getSplitSerializer() {
    return FrameSplit.Serializer.INSTANCE;
  }

  @Override
  public SimpleVersionedSerializer<Collection<FrameSplit>> getEnumeratorCheckpointSerializer() {
    return FrameSplit.ListSerializer.INSTANCE;
  }

  @Override
  public SourceReader<VideoFrame, FrameSplit> createReader(SourceReaderContext context) {
    return new FrameReader(context);
  }

  @Override
  public TypeInformation<VideoFrame> getProducedType() {
    return FrameSerializers.FrameTypeInfo.videoFrames();
  }

  /** Hands out one unassigned input per request, in order; takes back those of failed readers. */
  private static final class Enumerator implements SplitEnumerator<FrameSplit, Collection<FrameSplit>> {
    private final SplitEnumeratorContext<FrameSplit> context;
    private final ArrayDeque<FrameSplit> remaining;

    Enumerator(SplitEnumeratorContext<FrameSplit> context, Collection<FrameSplit> splits) {
      this.context = context;
      this.remaining = new ArrayDeque<>(splits);
    }

    @Override
    public void start() {}

    @Override
    public void handleSplitRequest(int subtask, String host) {
      FrameSplit next = remaining.poll();
      if (next != null) {
        context.assignSplit(next, subtask);
      } else {
        context.signalNoMoreSplits(subtask);
      }
    }

    @Override
    public void addSplitsBack(List<FrameSplit> splits, int subtask) {
      // back at the front, with the positions of the last checkpoint
      for (int i = splits.size() - 1; i >= 0; i--) {
        remaining.addFirst(splits.get(i));
      }
    }

    @Override
    public void addReader(int subtask) {}

    @Override
    public Collection<FrameSplit> snapshotState(long checkpointId) {
      return new ArrayList<>(remaining);
    }

    @Override
    public void close() {}
  }
}
