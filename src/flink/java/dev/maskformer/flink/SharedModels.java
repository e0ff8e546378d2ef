// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One loaded model per JVM, file, device and precision, shared by every subtask that asks for it
 * (a loaded model is thread-safe) and closed when the last of them lets go.
 *
 * <p>"Per JVM" holds for the classes' loader: with the library in Flink's {@code lib/} folder
 * (which it must be, see the README), all jobs of a TaskManager share the models.
 *
 * <p>Thread-safety: all methods are thread-safe. Ownership: each {@link #acquire} returns a lease
 * that its caller closes once.
 */
public final class SharedModels {
  private SharedModels() {}

  // trustedNativeCode is part of the key: a lease without it must not receive a .pt2 that a
  // trusting caller loaded
  private record Key(
      Path path, int device, String precision, boolean jitOptimize, boolean trustedNativeCode) {}

  private static final class Entry {
    final MaskFormer model;
    int users;

    Entry(MaskFormer model) {
      this.model = model;
    }
  }

  private static final Map<Key, Entry> MODELS = new HashMap<>();
  private static long loads;

  /** A use of a shared model; {@link #close()} gives it back (idempotent). */
  public static final class Lease implements AutoCloseable {
    private final Key key;
    private final MaskFormer model;
    private boolean closed;

    private Lease(Key key, MaskFormer model) {
      this.key = key;
      this.model = model;
    }

    /** The shared model; do not close it. */
    public MaskFormer model() {
      return model;
    }

    @Override
    public void close() {
      MaskFormer last = null;
      synchronized (SharedModels.class) {
        if (closed) {
          return;
        }
        closed = true;
        Entry e = MODELS.get(key);
        if (--e.users == 0) {
          MODELS.remove(key);
          last = e.model;
        }
      }
      if (last != null) {
        last.close(); // waits for calls in flight, outside the lock
      }
    }
  }

  /**
   * Leases the model for this file and options, loading it if no one holds it.
   *
   * @throws dev.maskformer.ModelLoadException and the other load failures of {@link MaskFormer#load}
   */
  public static Lease acquire(Path path, LoadOptions options) {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(options, "options");
    Key key = new Key(path.toAbsolutePath().normalize(), options.device().index(),
        options.precision().name(), options.jitOptimize(),
        options.trustedNativeCode());
    synchronized (SharedModels.class) {
      Entry e = MODELS.get(key);
      if (e == null) {
        // loading under the lock: a second subtask waits for the first one's model, not a copy
        e = new Entry(MaskFormer.load(key.path(), options));
        loads++;
        MODELS.put(key, e);
      }
      e.users++;
      return new Lease(key, e.model);
    }
  }

  /** Models open now (for tests and leak checks). */
  public static synchronized int openModels() {
    return MODELS.size();
  }

  /** Leases held now, over all models. */
  public static synchronized int leases() {
    return MODELS.values().stream().mapToInt(e -> e.users).sum();
  }

  /** Models loaded since the JVM started (a second user of a loaded model does not count). */
  public static synchronized long loads() {
    return loads;
  }
}
