// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * A file opened once, without blocking, whose type is checked on the open descriptor and whose
 * contents are then read through {@code /proc/self/fd/N}: what is read is what was checked, even
 * if another process renames a FIFO or a device over the name in between.
 *
 * <p>A name that is not a regular file by {@code stat} is not opened at all: opening a FIFO for
 * reading would release a writer blocked on it (which then fails when we close), and opening some
 * devices has side effects. A regular file is then opened with POSIX {@code open(O_RDONLY |
 * O_NONBLOCK | O_NOCTTY | O_CLOEXEC)} through the Foreign Function API, which returns at once
 * whatever the name has become meanwhile (Java's own open would block on a FIFO), and its type is
 * checked again on the descriptor. Where that call or {@code /proc/self/fd} is not available (not
 * Linux, or native access denied to this module), {@link #open} falls back to the check by name
 * and reading by name, which leaves the window between the two open; {@link #descriptorChecked}
 * says which.
 *
 * <p>Not thread-safe; one instance per read. Close it to release the descriptor.
 */
public final class OpenedFile implements AutoCloseable {
  // Linux values (the same on x86-64 and AArch64)
  private static final int O_RDONLY = 0;
  private static final int O_NOCTTY = 0400;
  private static final int O_NONBLOCK = 04000;
  private static final int O_CLOEXEC = 02000000;
  private static final int ENOENT = 2;
  private static final int ENXIO = 6; // open() of a socket
  private static final int EACCES = 13;

  private static final Charset PATH_CHARSET = pathCharset();
  private static final MethodHandle OPEN;
  private static final MethodHandle CLOSE;
  private static final StructLayout CALL_STATE;
  private static final VarHandle ERRNO;

  static {
    MethodHandle open = null;
    MethodHandle close = null;
    StructLayout state = null;
    VarHandle errno = null;
    try {
      if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")
          && Files.isDirectory(Path.of("/proc/self/fd"))) {
        Linker linker = Linker.nativeLinker();
        Linker.Option capture = Linker.Option.captureCallState("errno");
        state = Linker.Option.captureStateLayout();
        errno = state.varHandle(MemoryLayout.PathElement.groupElement("errno"));
        // int open(const char *path, int flags, ...): the mode is a variadic argument
        open = linker.downcallHandle(
            linker.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT),
            capture, Linker.Option.firstVariadicArg(2));
        close = linker.downcallHandle(
            linker.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
      }
    } catch (RuntimeException | LinkageError e) {
      open = null; // no native access or no libc symbols: the by-name fallback
      close = null;
    }
    OPEN = open;
    CLOSE = close;
    CALL_STATE = state;
    ERRNO = errno;
  }

  private static Charset pathCharset() {
    try {
      return Charset.forName(System.getProperty("sun.jnu.encoding", "UTF-8"));
    } catch (RuntimeException e) {
      return StandardCharsets.UTF_8;
    }
  }

  private final Path name;
  private int fd;
  private final Path readPath;
  private final BasicFileAttributes attributes;

  private OpenedFile(Path name, int fd, Path readPath, BasicFileAttributes attributes) {
    this.name = name;
    this.fd = fd;
    this.readPath = readPath;
    this.attributes = attributes;
  }

  /** Whether files are opened without blocking and read through their descriptor here. */
  public static boolean descriptorChecked() {
    return OPEN != null;
  }

  /**
   * Stats {@code file} (following symbolic links, as reading would); if it is a regular file,
   * opens it without blocking and reads its attributes again from the open descriptor. Callers
   * read nothing unless {@link #attributes()} says it is a regular file.
   *
   * @throws NoSuchFileException when it does not exist
   * @throws IOException when it cannot be opened (permissions, a socket)
   */
  public static OpenedFile open(Path file) throws IOException {
    Objects.requireNonNull(file, "file");
    BasicFileAttributes byName = Files.readAttributes(file, BasicFileAttributes.class);
    if (OPEN == null || !byName.isRegularFile()) {
      return new OpenedFile(file, -1, file, byName); // not opened: nothing is read but a regular file
    }
    int fd;
    int errno;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      // the bytes the JDK itself would pass for this name
      MemorySegment path = arena.allocateFrom(file.toString(), PATH_CHARSET);
      fd = (int) OPEN.invokeExact(state, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
      errno = (int) ERRNO.get(state, 0L);
    } catch (Error | RuntimeException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("cannot open " + file + ": " + t, t);
    }
    if (fd < 0) {
      switch (errno) {
        case ENOENT -> throw new NoSuchFileException(file.toString());
        // a socket or a device without its driver renamed over the file since the stat
        case ENXIO -> throw new IOException("not a regular file (a FIFO, device or socket), not read: " + file);
        case EACCES -> throw new IOException("permission denied: " + file);
        default -> throw new IOException("cannot open (errno " + errno + "): " + file);
      }
    }
    Path viaFd = Path.of("/proc/self/fd/" + fd);
    try {
      // stat of /proc/self/fd/N describes the open file itself, whatever the name now points at
      BasicFileAttributes attributes = Files.readAttributes(viaFd, BasicFileAttributes.class);
      return new OpenedFile(file, fd, viaFd, attributes);
    } catch (IOException | RuntimeException e) {
      closeFd(fd);
      throw e;
    }
  }

  /** The attributes of the opened file. */
  public BasicFileAttributes attributes() {
    return attributes;
  }

  /**
   * The path to read the checked file through: {@code /proc/self/fd/N} (opening it opens the same
   * file again, not whatever the name points at now), or the name itself in the fallback.
   */
  public Path readPath() {
    return readPath;
  }

  /** The name the file was opened by. */
  public Path name() {
    return name;
  }

  @Override
  public void close() {
    if (fd >= 0) {
      int open = fd;
      fd = -1;
      closeFd(open);
    }
  }

  private static void closeFd(int fd) {
    try {
      int rc = (int) CLOSE.invokeExact(fd);
      assert rc == 0 || rc == -1;
    } catch (Throwable t) {
      throw new IllegalStateException("close(" + fd + ") failed", t);
    }
  }
}
