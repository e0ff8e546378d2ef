// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.maskformer.images.Images;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file is opened once without blocking, its type checked on the descriptor, and read through
 * the descriptor: swapping a FIFO in under the name after the check can neither block the read nor
 * change what is read. The swap is done between open and read here, deterministically, instead of
 * racing for it.
 */
class OpenedFileTest {
  private static final Duration LIMIT = Duration.ofSeconds(20);

  private static boolean mkfifo(Path path) throws Exception {
    try {
      Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
      return p.waitFor() == 0;
    } catch (IOException e) {
      return false;
    }
  }

  @Test
  void aFifoRenamedOverTheFileAfterOpeningIsNeverRead(@TempDir Path tmp) throws Exception {
    assumeTrue(OpenedFile.descriptorChecked(), "no descriptor checks on this OS");
    Path file = tmp.resolve("image.png");
    byte[] content = "the file that was checked".getBytes(StandardCharsets.UTF_8);
    Files.write(file, content);
    Path fifo = tmp.resolve("pipe");
    assumeTrue(mkfifo(fifo), "no mkfifo");
    assertTimeoutPreemptively(LIMIT, () -> {
      try (OpenedFile opened = OpenedFile.open(file)) {
        assertTrue(opened.attributes().isRegularFile());
        Files.move(fifo, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertTrue(Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class).isOther());
        assertArrayEquals(content, Files.readAllBytes(opened.readPath()));
        assertEquals(file, opened.name());
      }
    });
  }

  @Test
  void aFifoIsRefusedWithoutOpeningIt(@TempDir Path tmp) throws Exception {
    Path fifo = tmp.resolve("pipe.png");
    assumeTrue(mkfifo(fifo), "no mkfifo");
    // a writer blocks in open() until a reader opens the FIFO: refusing the FIFO must leave it
    // blocked (opening it, even without blocking, would release it into a closed pipe)
    AtomicBoolean released = new AtomicBoolean();
    Thread writer = new Thread(() -> {
      try (OutputStream out = Files.newOutputStream(fifo)) {
        released.set(true);
        out.write(1);
      } catch (IOException e) {
        released.set(true);
      }
    });
    writer.setDaemon(true);
    writer.start();
    assertTimeoutPreemptively(LIMIT, () -> {
      try (OpenedFile opened = OpenedFile.open(fifo)) {
        assertTrue(opened.attributes().isOther());
        assertFalse(opened.attributes().isRegularFile());
      }
      IOException e = assertThrows(IOException.class, () -> Images.readImage(fifo));
      assertTrue(e.getMessage().contains("not a regular file (a FIFO, device or socket), not read: " + fifo),
          e.getMessage());
      Thread.sleep(300);
      assertFalse(released.get(), "the blocked writer was released: the FIFO was opened");
      try (InputStream in = Files.newInputStream(fifo)) { // now release it ourselves
        assertEquals(1, in.read());
      }
      writer.join();
      assertTrue(released.get());
    });
  }

  @Test
  void missingFilesFoldersAndDevices(@TempDir Path tmp) throws Exception {
    assertThrows(NoSuchFileException.class, () -> OpenedFile.open(tmp.resolve("none")));
    try (OpenedFile folder = OpenedFile.open(tmp)) {
      assertTrue(folder.attributes().isDirectory());
    }
    IOException none = assertThrows(IOException.class, () -> Images.readImage(tmp.resolve("none.png")));
    assertTrue(none.getMessage().startsWith("no such image file: "), none.getMessage());
    IOException dir = assertThrows(IOException.class, () -> Images.readImage(tmp));
    assertTrue(dir.getMessage().startsWith("a folder, not an image file: "), dir.getMessage());
    IOException dev = assertThrows(IOException.class, () -> Images.readImage(Path.of("/dev/zero")));
    assertTrue(dev.getMessage().contains("not a regular file"), dev.getMessage());
  }

  @Test
  void descriptorsAreReleased(@TempDir Path tmp) throws Exception {
    assumeTrue(OpenedFile.descriptorChecked(), "no descriptor checks on this OS");
    Path file = Files.writeString(tmp.resolve("a.txt"), "x");
    Path fds = Path.of("/proc/self/fd");
    long before;
    try (var s = Files.list(fds)) {
      before = s.count();
    }
    for (int i = 0; i < 2000; i++) {
      OpenedFile opened = OpenedFile.open(file);
      opened.close();
      opened.close(); // twice is harmless: the number is not closed again (it may be reused)
    }
    for (int i = 0; i < 200; i++) {
      assertThrows(IOException.class, () -> Images.readImage(tmp)); // refused after opening
    }
    long after;
    try (var s = Files.list(fds)) {
      after = s.count();
    }
    assertTrue(after <= before + 2, before + " descriptors before, " + after + " after");
  }
}
