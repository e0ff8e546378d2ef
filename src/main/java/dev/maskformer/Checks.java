// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.lang.foreign.MemorySegment;

/** Argument checks shared by the public types. */
final class Checks {
  private Checks() {}

  static void nativeSegment(MemorySegment segment, String what) {
    if (!segment.isNative()) {
      throw new IllegalArgumentException(what + " must be off-heap memory (from an Arena), got a "
          + "heap segment; allocate it with Arena.allocate or MaskFormerRuntime.allocateHost");
    }
    if (!segment.scope().isAlive()) {
      throw new IllegalStateException(what + ": its arena is already closed");
    }
    if (!segment.isAccessibleBy(Thread.currentThread())) {
      throw new WrongThreadException(what + " belongs to a confined arena of another thread; "
          + "use a shared or automatic arena to pass memory between threads");
    }
  }

  /** Outputs are written: a read-only view (asReadOnly) of any memory is refused. */
  static void writable(MemorySegment segment, String what) {
    if (segment.isReadOnly()) {
      throw new IllegalArgumentException(what + " is a read-only segment, but outputs are written"
          + " (pass the writable segment, not an asReadOnly() view)");
    }
  }

  static void aligned(MemorySegment segment, int alignment, String what) {
    if (segment.address() % alignment != 0) {
      throw new IllegalArgumentException(what + " must be " + alignment + "-byte aligned, address 0x"
          + Long.toHexString(segment.address()) + " is not");
    }
  }
}
