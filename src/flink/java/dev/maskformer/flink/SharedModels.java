// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * One loaded model per JVM, file, device and precision, shared by every subtask that asks for it
 * (a loaded model is thread-safe) and closed when the last of them lets go.
 *
 * <p>"Per JVM" holds for the classes' loader: with the library in Flink's {@code lib/} folder
 * (which it must be, see docs/flink.md), all jobs of a TaskManager share the models.
 *
 * <p>Thread-safety: all methods are thread-safe. Ownership: each {@link #acquire} returns a lease
 * that its caller closes once.
 */
public final class SharedModels {
  private SharedModels() {}

  // trustedNativeCode is part of the key: a lease without it must not receive a .pt2 that a
  // trusting caller loaded; cpuRewrites too: a caller who asked for none or for the rewrites
  // at load must not receive a model that rewrites itself in the background
  private record Key(
      Path path, int device, String precision, boolean jitOptimize, boolean trustedNativeCode,
      dev.maskformer.CpuRewrites cpuRewrites) {}

  // an entry exists from the first acquire on; its model arrives when that caller's load ends
  private static final class Entry {
    final CompletableFuture<MaskFormer> model = new CompletableFuture<>();
    int users;
  }

  private static final Map<Key, Entry> MODELS = new HashMap<>();
  private static long loads;

  /** A use of a shared model; {@link #close()} gives it back (idempotent). */
  public static final class Lease implements AutoCloseable {
    private final Key key;
    private final Entry entry;
    private final MaskFormer model;
    private boolean closed;

    private Lease(Key key, Entry entry, MaskFormer model) {
      this.key = key;
      this.entry = entry;
      this.model = model;
    }

    /** The shared model; do not close it. */
    public MaskFormer model() {
      return model;
    }

    @Override
    public void close() {
      synchronized (SharedModels.class) {
        if (closed) {
          return;
        }
        closed = true;
        if (!release(key, entry)) {
          return;
        }
      }
      model.close(); // waits for calls in flight, outside the lock
    }
  }

  /** One user fewer; true when it was the last one (the entry is then gone). Under the lock. */
  private static boolean release(Key key, Entry entry) {
    if (--entry.users > 0) {
      return false;
    }
    MODELS.remove(key, entry);
    return true;
  }

  /**
   * Leases the model for this file and options, loading it if no one holds it. Callers asking for
   * a model that is being loaded wait for that load; loads of other models go on in parallel.
   * When a load fails, every caller waiting for it gets its exception, and the next acquire
   * tries again.
   *
   * @throws dev.maskformer.ModelLoadException and the other load failures of {@link MaskFormer#load}
   */
  public static Lease acquire(Path path, LoadOptions options) {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(options, "options");
    Key key = new Key(path.toAbsolutePath().normalize(), options.device().index(),
        options.precision().name(), options.jitOptimize(),
        options.trustedNativeCode(), options.cpuRewrites());
    Entry entry;
    boolean loader;
    synchronized (SharedModels.class) {
      entry = MODELS.get(key);
      loader = entry == null;
      if (loader) {
        entry = new Entry();
        MODELS.put(key, entry);
      }
      entry.users++;
    }
    if (loader) {
      // outside the lock: a slow load (a large file, a cold GPU) holds up only its own key
      MaskFormer model;
      try {
        model = MaskFormer.load(key.path(), options);
      } catch (RuntimeException | Error e) {
        synchronized (SharedModels.class) {
          MODELS.remove(key, entry); // the next acquire loads again
          entry.users--;
        }
        entry.model.completeExceptionally(e);
        throw e;
      }
      synchronized (SharedModels.class) {
        loads++;
      }
      entry.model.complete(model);
      return new Lease(key, entry, model);
    }
    try {
      return new Lease(key, entry, entry.model.join());
    } catch (CompletionException e) {
      synchronized (SharedModels.class) {
        entry.users--;
      }
      // the loader's own exception: the same type and message for every waiting subtask
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw e;
    }
  }

  /** Models open now (for tests and leak checks). */
  public static synchronized int openModels() {
    return MODELS.size();
  }

  /** Leases held now, over all models (callers waiting for a load included). */
  public static synchronized int leases() {
    return MODELS.values().stream().mapToInt(e -> e.users).sum();
  }

  /** Models loaded since the JVM started (a second user of a loaded model does not count). */
  public static synchronized long loads() {
    return loads;
  }
}
