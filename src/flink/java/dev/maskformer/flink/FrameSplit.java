// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * One input of a {@link FrameSource}: a video file or a folder of images, read by one reader from
 * {@code nextFrame} on. The position is what a checkpoint keeps, so a restored source goes on with
 * the first frame it had not emitted.
 *
 * @param streamId the stream id of its frames
 * @param path the video file, image folder or single image
 * @param kind how it is read
 * @param nextFrame index of the next frame to emit
 * @param maxFrames frames to read at most ({@code -1}: all)
 * @param fps frame rate of the timestamps of images ({@code frameIndex * 1000 / fps} ms); videos
 *     use their own rate
 * @param ffmpeg the ffmpeg executable (videos)
 * @param decode what ffmpeg decodes a video to
 */
public record FrameSplit(String streamId, String path, Kind kind, long nextFrame, long maxFrames,
    double fps, String ffmpeg, FrameSource.Decode decode) implements SourceSplit, Serializable {
  /** How an input is read. */
  public enum Kind {
    /** Decoded by ffmpeg into raw frames: YUV 4:2:0 or BGR, as {@link FrameSource.Decode} says. */
    VIDEO,
    /** The image files of a folder, in name order (or one image file). */
    IMAGES
  }

  public FrameSplit {
    Objects.requireNonNull(streamId, "streamId");
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(ffmpeg, "ffmpeg");
    Objects.requireNonNull(decode, "decode");
    if (nextFrame < 0) {
      throw new IllegalArgumentException("nextFrame must be >= 0, got " + nextFrame);
    }
    if (!(fps > 0)) {
      throw new IllegalArgumentException("fps must be > 0, got " + fps);
    }
  }

  /** A split that decodes videos as {@link FrameSource.Decode#AUTO} does. */
  public FrameSplit(String streamId, String path, Kind kind, long nextFrame, long maxFrames, double fps,
      String ffmpeg) {
    this(streamId, path, kind, nextFrame, maxFrames, fps, ffmpeg, FrameSource.Decode.AUTO);
  }

  @Override
  public String splitId() {
    return streamId;
  }

  /** The same input, positioned at {@code frame}. */
  public FrameSplit at(long frame) {
    return new FrameSplit(streamId, path, kind, frame, maxFrames, fps, ffmpeg, decode);
  }

  /**
   * Binary form of splits and of the enumerator's list of unassigned splits. Version 2 added the
   * decode mode; a version 1 split (from a checkpoint of a build that decoded videos to BGR only)
   * goes on decoding to BGR.
   */
  static final class Serializer implements SimpleVersionedSerializer<FrameSplit> {
    static final Serializer INSTANCE = new Serializer();
    static final int VERSION = 2;

    @Override
    public int getVersion() {
      return VERSION;
    }

    @Override
    public byte[] serialize(FrameSplit s) throws IOException {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        write(s, out);
      }
      return bytes.toByteArray();
    }

    @Override
    public FrameSplit deserialize(int version, byte[] data) throws IOException {
      checkVersion(version);
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
        return read(in, version);
      }
    }

    static void write(FrameSplit s, DataOutputStream out) throws IOException {
      out.writeUTF(s.streamId);
      out.writeUTF(s.path);
      out.writeByte(s.kind.ordinal());
      out.writeLong(s.nextFrame);
      out.writeLong(s.maxFrames);
      out.writeDouble(s.fps);
      out.writeUTF(s.ffmpeg);
      out.writeByte(s.decode.ordinal());
    }

    static FrameSplit read(DataInputStream in, int version) throws IOException {
      String stream = in.readUTF();
      String path = in.readUTF();
      int kind = in.readUnsignedByte();
      if (kind >= Kind.values().length) {
        throw new IOException("corrupt frame split: kind " + kind);
      }
      long nextFrame = in.readLong();
      long maxFrames = in.readLong();
      double fps = in.readDouble();
      String ffmpeg = in.readUTF();
      FrameSource.Decode decode = FrameSource.Decode.BGR;
      if (version >= 2) {
        int d = in.readUnsignedByte();
        if (d >= FrameSource.Decode.values().length) {
          throw new IOException("corrupt frame split: decode " + d);
        }
        decode = FrameSource.Decode.values()[d];
      }
      return new FrameSplit(stream, path, Kind.values()[kind], nextFrame, maxFrames, fps, ffmpeg, decode);
    }

    static void checkVersion(int version) throws IOException {
      if (version < 1 || version > VERSION) {
        throw new IOException("unknown frame split version " + version + " (this build reads 1 to " + VERSION + ")");
      }
    }
  }

  /** The enumerator's checkpoint: the splits not assigned yet. */
  static final class ListSerializer implements SimpleVersionedSerializer<Collection<FrameSplit>> {
    static final ListSerializer INSTANCE = new ListSerializer();

    @Override
    public int getVersion() {
      return Serializer.VERSION;
    }

    @Override
    public byte[] serialize(Collection<FrameSplit> splits) throws IOException {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        out.writeInt(splits.size());
        for (FrameSplit s : splits) {
          Serializer.write(s, out);
        }
      }
      return bytes.toByteArray();
    }

    @Override
    public Collection<FrameSplit> deserialize(int version, byte[] data) throws IOException {
      Serializer.checkVersion(version);
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
        int n = in.readInt();
        List<FrameSplit> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          out.add(Serializer.read(in, version));
        }
        return out;
      }
    }
  }
}
