// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.core.io.InputStatus;

/**
 * Reads the inputs assigned to one source subtask, one at a time, and asks the enumerator for
 * the next when one is done. All methods run on the task's thread; decoding a frame blocks it for
 * the time of one image read or one raw frame from ffmpeg's pipe.
 */
final class FrameReader implements SourceReader<VideoFrame, FrameSplit> {
  private final SourceReaderContext context;
  private final ArrayDeque<FrameSplit> assigned = new ArrayDeque<>();
  private FrameDecoder current;
  private boolean noMoreSplits;
  private CompletableFuture<Void> available = new CompletableFuture<>();

  FrameReader(SourceReaderContext context) {
    this.context = context;
  }

  @Override
  public void start() {
    if (assigned.isEmpty()) {
      context.sendSplitRequest();
    }
  }

  @Override
  public InputStatus pollNext(ReaderOutput<VideoFrame> output) throws Exception {
    if (current == null) {
      FrameSplit next = assigned.poll();
      if (next == null) {
        return noMoreSplits ? InputStatus.END_OF_INPUT : InputStatus.NOTHING_AVAILABLE;
      }
      current = FrameDecoder.open(next);
    }
    VideoFrame frame = current.next();
    if (frame == null) {
      current.close();
      current = null;
      if (assigned.isEmpty()) {
        context.sendSplitRequest();
      }
      return InputStatus.MORE_AVAILABLE; // the next poll says whether another input is there
    }
    output.collect(frame, frame.timestamp());
    return InputStatus.MORE_AVAILABLE;
  }

  @Override
  public CompletableFuture<Void> isAvailable() {
    if (current != null || !assigned.isEmpty() || noMoreSplits) {
      return CompletableFuture.completedFuture(null);
    }
    if (available.isDone()) {
      available = new CompletableFuture<>();
    }
    return available;
  }

  @Override
  public void addSplits(List<FrameSplit> splits) {
    assigned.addAll(splits);
    available.complete(null);
  }

  @Override
  public void notifyNoMoreSplits() {
    noMoreSplits = true;
    available.complete(null);
  }

  @Override
  public List<FrameSplit> snapshotState(long checkpointId) {
    List<FrameSplit> state = new ArrayList<>();
    if (current != null) {
      state.add(current.position());
    }
    state.addAll(assigned);
    return state;
  }

  @Override
  public void close() throws Exception {
    if (current != null) {
      current.close();
      current = null;
    }
  }
}
