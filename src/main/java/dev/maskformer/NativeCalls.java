// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.internal.NativeException;
import dev.maskformer.internal.NativeModel;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Where this package meets {@code dev.maskformer.internal}, which knows none of its types: native
 * calls run here, their {@link NativeException}s become this package's exceptions (the table of
 * docs/errors.md), and frames and outputs become the internal descriptors.
 *
 * <p>Thread-safety: stateless.
 */
final class NativeCalls {
  private NativeCalls() {}

  /** Runs a call that loads a model: a file or its contents at fault is a ModelLoadException. */
  static <T> T load(Supplier<T> body) {
    try {
      return body.get();
    } catch (NativeException e) {
      throw exception(e, true);
    }
  }

  /**
   * Runs any other native call: a model that breaks its output contract here, after loading, is
   * an InferenceException (its status kept).
   */
  static <T> T call(Supplier<T> body) {
    try {
      return body.get();
    } catch (NativeException e) {
      throw exception(e, false);
    }
  }

  static void run(Runnable body) {
    call(() -> {
      body.run();
      return null;
    });
  }

  /** The public exception for an internal one, with the message shape of docs/errors.md. */
  static RuntimeException exception(NativeException e, boolean loading) {
    if (e.status() == NativeException.LIBRARY) {
      return new NativeLibraryException(e.getMessage(), e.getCause());
    }
    Status s = Status.fromCode(e.status());
    String message = e.operation() + " failed: " + s + ": " + e.text() + (e.context() == null ? "" : " (" + e.context() + ")");
    return exception(s, message, loading);
  }

  /** The exception type a status maps to, while loading a model or on a later call. */
  static RuntimeException exception(Status status, String message, boolean loading) {
    return switch (status) {
      case IO, MODEL_FORMAT -> loading ? new ModelLoadException(status, message) : new InferenceException(status, message);
      case UNSUPPORTED -> new UnsupportedDeviceException(message);
      case OUT_OF_MEMORY -> new NativeOutOfMemoryException(message);
      case INVALID_ARGUMENT -> new IllegalArgumentException(message);
      case OK -> new IllegalStateException("not an error: " + message);
      case CUDA, INTERNAL, NOT_FINITE, UNKNOWN -> new InferenceException(status, message);
    };
  }

  static NativeModel.Image image(Frame f) {
    ImageLayout l = f.layout();
    int planes = l.format().isYuv() ? l.chroma().size() : 0;
    List<NativeModel.Plane> chroma = new ArrayList<>(planes);
    for (int c = 0; c < planes; c++) {
      chroma.add(new NativeModel.Plane(f.chromaSegment(c), l.chroma().get(c).offset(), l.chroma().get(c).stride()));
    }
    return new NativeModel.Image(f.pixels(), l.width(), l.height(), l.stride(), l.format().code(),
        l.matrix().code(), l.range().code(), chroma);
  }

  static NativeModel.Out output(Output o) {
    return new NativeModel.Out(o.labels(), o.labelType().code(), o.scores(), o.regionIds(), o.confidence(),
        o.confidenceType() == null ? 0 : o.confidenceType().code());
  }
}
