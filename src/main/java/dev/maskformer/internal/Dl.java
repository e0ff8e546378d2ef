// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * The C library's dynamic loader, called directly: {@code System.load} reports a failure without
 * {@code dlerror()}'s text and binds lazily, so a symbol missing from the LibTorch found would
 * only show when first called, by ending the process. Libraries opened here stay loaded for the
 * life of the process (there is no dlclose).
 *
 * <p>Thread-safety: all methods are thread-safe (dlopen is; the error text is per thread and read
 * right after the call on the same thread).
 */
final class Dl {
  private Dl() {}

  static final int RTLD_LAZY = 0x1;
  static final int RTLD_NOW = 0x2;

  private static final MethodHandle DLOPEN;
  private static final MethodHandle DLERROR;

  static {
    Linker linker = Linker.nativeLinker();
    // glibc 2.34+ has dlopen in libc itself; older ones in libdl
    SymbolLookup lookup = linker.defaultLookup();
    if (lookup.find("dlopen").isEmpty()) {
      lookup = SymbolLookup.libraryLookup("libdl.so.2", Arena.ofAuto());
    }
    DLOPEN = linker.downcallHandle(lookup.findOrThrow("dlopen"), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
    DLERROR = linker.downcallHandle(lookup.findOrThrow("dlerror"), FunctionDescriptor.of(ADDRESS));
  }

  /** Thrown with dlerror()'s text when a library does not load. */
  static final class LoadError extends Exception {
    private static final long serialVersionUID = 1L;

    LoadError(String message) {
      super(message);
    }
  }

  /** dlopen(file, flags); the library stays loaded. */
  static void open(Path file, int flags) throws LoadError {
    try (Arena call = Arena.ofConfined()) {
      MemorySegment handle = (MemorySegment) DLOPEN.invokeExact(call.allocateFrom(file.toString()), flags);
      if (handle.equals(MemorySegment.NULL)) {
        MemorySegment text = (MemorySegment) DLERROR.invokeExact();
        throw new LoadError(text.equals(MemorySegment.NULL) ? "unknown error" : text.reinterpret(4096).getString(0));
      }
    } catch (LoadError e) {
      throw e;
    } catch (Throwable e) {
      throw new LoadError("dlopen could not be called: " + e);
    }
  }
}
