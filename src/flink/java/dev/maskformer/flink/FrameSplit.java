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
 */
public record FrameSplit(String streamId, String path, Kind kind, long nextFrame, long maxFrames,
    double fps, String ffmpeg) implements SourceSplit, Serializable {
  /** How an input is read. */
  public enum Kind {
    /** Decoded by ffmpeg into raw BGR frames. */
    VIDEO,
    /** The image files of a folder, in name order (or one image file). */
    IMAGES
  }

  public FrameSplit {
    Objects.requireNonNull(streamId, "streamId");
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(ffmpeg, "ffmpeg");
    if (nextFrame < 0) {
      throw new IllegalArgumentException("nextFrame must be >= 0, got " + nextFrame);
    }
    if (!(fps > 0)) {
      throw new IllegalArgumentException("fps must be > 0, got " + fps);
    }
  }

  @Override
  public String splitId() {
    return streamId;
  }

  /** The same input, positioned at {@code frame}. */
  public FrameSplit at(long frame) {
    return new FrameSplit(streamId, path, kind, frame, maxFrames, fps, ffmpeg);
  }

  /** Binary form of splits and of the enumerator's list of unassigned splits (version 1). */
  static final class Serializer implements SimpleVersionedSerializer<FrameSplit> {
    static final Serializer INSTANCE = new Serializer();

    @Override
    public int getVersion() {
      return 1;
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
        return read(in);
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
    }

    static FrameSplit read(DataInputStream in) throws IOException {
      String stream = in.readUTF();
      String path = in.readUTF();
      int kind = in.readUnsignedByte();
      if (kind >= Kind.values().length) {
        throw new IOException("corrupt frame split: kind " + kind);
      }
      return new FrameSplit(stream, path, Kind.values()[kind], in.readLong(), in.readLong(),
          in.readDouble(), in.readUTF());
    }

    static void checkVersion(int version) throws IOException {
      if (version != 1) {
        throw new IOException("unknown frame split version " + version + " (this build reads 1)");
      }
    }
  }

  /** The enumerator's checkpoint: the splits not assigned yet. */
  static final class ListSerializer implements SimpleVersionedSerializer<Collection<FrameSplit>> {
    static final ListSerializer INSTANCE = new ListSerializer();

    @Override
    public int getVersion() {
      return 1;
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
          out.add(Serializer.read(in));
        }
        return out;
      }
    }
  }
}
