// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.maskformer.images.Images;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged, oversized and unusual image inputs of {@code segment}: each is that file's error (named,
 * with the reason), the other files are still segmented, the exit status is 1, nothing blocks.
 */
class ImageInputIT {
  private static final Path MODELS = Path.of(System.getProperty("maskformer.testModels", "target/test-models"));
  private static final String MODEL = MODELS.resolve("tiny.pt").toString();

  @Test
  void damagedAndSpecialFilesAreEachReportedAndTheRestSegmented(@TempDir Path tmp) throws Exception {
    Path in = Files.createDirectories(tmp.resolve("in"));
    Files.copy(MODELS.resolve("images/scene_97x61.png"), in.resolve("good.png"));
    byte[] png = Files.readAllBytes(MODELS.resolve("images/scene_97x61.png"));

    byte[] jpeg = encode(noise(97, 61), "jpg");
    Files.write(in.resolve("cut.jpg"), Arrays.copyOf(jpeg, jpeg.length / 2));

    // one flipped bit in the CRC of the first IDAT chunk: the JDK decodes this file without a word
    byte[] badCrc = png.clone();
    int idat = indexOf(badCrc, "IDAT");
    int idatLength = ByteBuffer.wrap(badCrc, idat - 4, 4).getInt();
    badCrc[idat + 4 + idatLength] ^= 0x01;
    Files.write(in.resolve("bad-crc.png"), badCrc);
    Files.write(in.resolve("cut.png"), Arrays.copyOf(png, png.length - 40)); // ends inside IDAT

    byte[] bmp = encode(noise(97, 61), "bmp");
    Files.write(in.resolve("cut.bmp"), Arrays.copyOf(bmp, bmp.length / 2));
    byte[] badBmp = bmp.clone();
    badBmp[28] = 99; // bits per pixel
    Files.write(in.resolve("bad-header.bmp"), badBmp);

    Files.write(in.resolve("huge-header.png"), pngHeaderOnly(30000, 30000));
    Files.write(in.resolve("wide.png"), pngHeaderOnly(40000, 10));
    Path bomb = in.resolve("bomb.png");
    Files.write(bomb, bilevelPng(12000, 12000));
    assertTrue(Files.size(bomb) < 100_000, "bomb.png is " + Files.size(bomb) + " bytes");
    Files.createDirectories(in.resolve("folder.png"));

    boolean fifo = mkfifo(in.resolve("pipe.png"));
    Path out = tmp.resolve("out");
    Result r = assertTimeoutPreemptively(Duration.ofMinutes(2), () -> run("segment", "--model", MODEL,
        "--out", out.toString(), in.toString(), "/dev/null"));
    String err = r.err();
    assertEquals(1, r.code(), err);
    assertTrue(Files.isRegularFile(out.resolve("good.labels.png")), err);
    assertTrue(r.out().contains("good.png: 97x61"), r.out());
    expect(err, "cut.jpg", "damaged jpeg (");
    expect(err, "cut.jpg", "Missing EOI");
    expect(err, "bad-crc.png", "damaged png (CRC mismatch in its 'IDAT' chunk");
    expect(err, "cut.png", "truncated png (ends inside its 'IDAT' chunk");
    expect(err, "cut.bmp", "cannot decode the bmp data (EOFException)");
    expect(err, "bad-header.bmp", "bits per pixel");
    expect(err, "huge-header.png", "30000x30000 = 900000000 pixels, more than the limit of 67108864");
    expect(err, "wide.png", "40000x10, larger than 32768 pixels on a side");
    expect(err, "bomb.png", "12000x12000 = 144000000 pixels, more than the limit");
    expect(err, "folder.png", "a folder, not an image file");
    expect(err, "/dev/null", "not a regular file (a FIFO, device or socket), not read");
    if (fifo) {
      expect(err, "pipe.png", "not a regular file (a FIFO, device or socket), not read");
    }
    int inputs = fifo ? 12 : 11;
    assertTrue(err.contains((inputs - 1) + " of " + inputs + " images failed"), err);
    assertTrue(!err.contains("Exception:") && !err.contains("\tat "), err);
    assertTrue(Files.isDirectory(in.resolve("folder.png")));
  }

  @Test
  void thePixelLimitIsAnOption(@TempDir Path tmp) throws Exception {
    String image = MODELS.resolve("images/scene_97x61.png").toString(); // 5917 pixels
    Result low = run("segment", "--model", MODEL, "--out", tmp.toString(), "--max-pixels", "5916", image);
    assertEquals(1, low.code(), low.err());
    expect(low.err(), "scene_97x61.png", "97x61 = 5917 pixels, more than the limit of 5916");
    Result enough = run("segment", "--model", MODEL, "--out", tmp.toString(), "--max-pixels", "5917", image);
    assertEquals(0, enough.code(), enough.err());
    for (String bad : new String[] {"0", "-5", "1073741825"}) {
      Result usage = run("segment", "--model", MODEL, "--max-pixels", bad, image);
      assertEquals(2, usage.code(), usage.err());
      assertTrue(usage.err().contains("--max-pixels must be 1..1073741824, got " + bad), usage.err());
    }
    // raised to the most, a 30000x30000 header still cannot decode into one Java array: a clear
    // error, not ImageIO's "Invalid scanline stride"
    Path huge = tmp.resolve("huge.png");
    Files.write(huge, pngHeaderOnly(30000, 30000));
    Result r = run("segment", "--model", MODEL, "--out", tmp.toString(), "--max-pixels", "1073741824",
        huge.toString());
    assertEquals(1, r.code(), r.err());
    expect(r.err(), "huge.png", "30000x30000: too large to decode into a Java image");
  }

  /**
   * {@code Images.readImage(byte[], maxPixels)} (the Flink SQL provider's decoder) makes the checks
   * of the file reader: the same damaged and oversized inputs are each refused with the same reason,
   * and a good image decodes to the same pixels as its file.
   */
  @Test
  void imagesInMemoryAreCheckedAsFilesAre() throws Exception {
    Path file = MODELS.resolve("images/scene_97x61.png");
    byte[] png = Files.readAllBytes(file);
    BufferedImage fromFile = Images.readImage(file);
    BufferedImage fromBytes = Images.readImage(png, Images.DEFAULT_MAX_PIXELS);
    assertEquals(fromFile.getWidth(), fromBytes.getWidth());
    assertTrue(Arrays.equals(fromFile.getRGB(0, 0, 97, 61, null, 0, 97),
        fromBytes.getRGB(0, 0, 97, 61, null, 0, 97)));
    byte[] jpeg = encode(noise(97, 61), "jpg");
    byte[] badCrc = png.clone();
    int idat = indexOf(badCrc, "IDAT");
    badCrc[idat + 4 + ByteBuffer.wrap(badCrc, idat - 4, 4).getInt()] ^= 0x01;
    Map<String, byte[]> bad = new LinkedHashMap<>();
    bad.put("damaged jpeg (", Arrays.copyOf(jpeg, jpeg.length / 2));
    bad.put("damaged png (CRC mismatch in its 'IDAT' chunk", badCrc);
    bad.put("truncated png (ends inside its 'IDAT' chunk", Arrays.copyOf(png, png.length - 40));
    bad.put("30000x30000 = 900000000 pixels, more than the limit of 67108864", pngHeaderOnly(30000, 30000));
    bad.put("40000x10, larger than 32768 pixels on a side", pngHeaderOnly(40000, 10));
    bad.put("12000x12000 = 144000000 pixels, more than the limit", bilevelPng(12000, 12000));
    bad.put("not a readable image (PNG, JPEG, BMP, GIF)", new byte[] {1, 2, 3});
    bad.put("not a readable image", new byte[0]);
    for (var e : bad.entrySet()) {
      IOException x = assertThrows(IOException.class,
          () -> Images.readImage(e.getValue(), Images.DEFAULT_MAX_PIXELS), e.getKey());
      assertTrue(x.getMessage().contains(e.getKey()), x.getMessage());
      assertTrue(x.getMessage().endsWith(": " + e.getValue().length + " bytes in memory"), x.getMessage());
    }
    IOException low = assertThrows(IOException.class,
        () -> Images.readImage(png, 5916));
    assertTrue(low.getMessage().contains("97x61 = 5917 pixels, more than the limit of 5916"), low.getMessage());
  }

  /** A grey PNG's overlay at opacity 0 is the image itself: grey g stays (g, g, g). */
  @Test
  void greyImagesKeepTheirValuesInTheOverlay(@TempDir Path tmp) throws Exception {
    BufferedImage grey = new BufferedImage(40, 30, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 30; y++) {
      for (int x = 0; x < 40; x++) {
        grey.getRaster().setSample(x, y, 0, (x * 7 + y * 3) % 256);
      }
    }
    Path file = tmp.resolve("grey.png");
    assertTrue(ImageIO.write(grey, "png", file.toFile()));
    Result r = run("segment", "--model", MODEL, "--out", tmp.toString(), "--alpha", "0", file.toString());
    assertEquals(0, r.code(), r.err());
    BufferedImage overlay = ImageIO.read(tmp.resolve("grey.overlay.png").toFile());
    for (int y = 0; y < 30; y++) {
      for (int x = 0; x < 40; x++) {
        int g = (x * 7 + y * 3) % 256;
        assertEquals(g << 16 | g << 8 | g, overlay.getRGB(x, y) & 0xFFFFFF, "pixel " + x + "," + y);
      }
    }
  }

  @Test
  void aMissingInputStopsBeforeTheModelLoads(@TempDir Path tmp) {
    Result r = run("segment", "--model", MODEL, "--out", tmp.toString(), tmp.resolve("nope.png").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("no such file or folder: " + tmp.resolve("nope.png")), r.err());
  }

  record Result(int code, String out, String err) {}

  private static Result run(String... args) {
    CliIT.Result r = CliIT.run(args);
    return new Result(r.code(), r.out(), r.err());
  }

  /** The error line of {@code file} carries {@code text}. */
  private static void expect(String err, String file, String text) {
    for (String line : err.split("\n")) {
      if (line.startsWith("error: ") && line.contains(file) && line.contains(text)) {
        return;
      }
    }
    throw new AssertionError("no error line for " + file + " containing '" + text + "' in:\n" + err);
  }

  private static boolean mkfifo(Path path) throws Exception {
    try {
      Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
      return p.waitFor() == 0 && !Files.isRegularFile(path) && Files.exists(path);
    } catch (java.io.IOException e) {
      assumeTrue(false, "no mkfifo: " + e);
      return false;
    }
  }

  private static BufferedImage noise(int w, int h) {
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    Random random = new Random(42);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        image.setRGB(x, y, random.nextInt());
      }
    }
    return image;
  }

  private static byte[] encode(BufferedImage image, String format) throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(image, format, b), format);
    return b.toByteArray();
  }

  private static int indexOf(byte[] data, String ascii) {
    byte[] needle = ascii.getBytes(StandardCharsets.US_ASCII);
    outer:
    for (int i = 0; i + needle.length <= data.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (data[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError(ascii + " not found");
  }

  /** A PNG whose IHDR says w x h RGB, with a token IDAT: the header alone is what is judged. */
  private static byte[] pngHeaderOnly(int w, int h) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
    chunk(b, "IHDR", ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2)
        .put((byte) 0).put((byte) 0).put((byte) 0).array());
    chunk(b, "IDAT", deflate(new byte[64]));
    chunk(b, "IEND", new byte[0]);
    return b.toByteArray();
  }

  /** A valid 1-bit grey PNG of w x h black pixels: tiny on disk, w * h pixels when decoded. */
  private static byte[] bilevelPng(int w, int h) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
    chunk(b, "IHDR", ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 1).put((byte) 0)
        .put((byte) 0).put((byte) 0).put((byte) 0).array());
    byte[] raw = new byte[h * (1 + (w + 7) / 8)]; // filter byte 0 and zero bits on every row
    chunk(b, "IDAT", deflate(raw));
    chunk(b, "IEND", new byte[0]);
    return b.toByteArray();
  }

  private static void chunk(ByteArrayOutputStream b, String type, byte[] data) {
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    b.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
    b.writeBytes(t);
    b.writeBytes(data);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    b.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
  }

  private static byte[] deflate(byte[] data) {
    Deflater d = new Deflater(9);
    d.setInput(data);
    d.finish();
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    byte[] buf = new byte[1 << 16];
    while (!d.finished()) {
      b.write(buf, 0, d.deflate(buf));
    }
    d.end();
    return b.toByteArray();
  }
}
