// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.images;

import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.MaskFormer;
import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Output;
import dev.maskformer.Output.ConfidenceType;
import dev.maskformer.PixelFormat;
import dev.maskformer.SegmentOptions;
import dev.maskformer.Segmentation;

import dev.maskformer.internal.OpenedFile;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentSampleModel;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferInt;
import java.awt.image.DataBufferUShort;
import java.awt.image.Raster;
import java.awt.image.SinglePixelPackedSampleModel;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.FileImageInputStream;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Bridges between {@link BufferedImage}s and off-heap frames, and renders results.
 *
 * <p>{@link #toFrame} makes the one copy that Java images need: their pixels live on the Java heap,
 * which native code cannot read. Byte-interleaved (JPEG's 3-byte BGR, 4-byte ABGR) and packed int
 * (RGB, ARGB, BGR) images are copied as they are; other types (grey, indexed, 16-bit) are first
 * drawn into a 3-byte BGR image.
 *
 * <p>Thread-safety: stateless; all methods are thread-safe.
 */
public final class Images {
  private Images() {}

  /**
   * Default limit of {@link #readImage(Path)}: 2^26 pixels (64 Mi). It takes an image of the
   * largest side the library accepts ({@link ImageLayout#MAX_SIDE}, 32768) by 2048 rows, an
   * 8192x8192 square or a 48-megapixel photo, and refuses files whose header promises more before
   * anything is decoded: a PNG of a few kilobytes can decode to gigabytes.
   */
  public static final long DEFAULT_MAX_PIXELS = 1L << 26;

  /** Largest {@code maxPixels}: {@link ImageLayout#MAX_SIDE} squared. */
  public static final long MAX_PIXELS_LIMIT = (long) ImageLayout.MAX_SIDE * ImageLayout.MAX_SIDE;

  /**
   * Elements in one Java array at most; the decoded image and its 3- or 4-byte copy must fit (the
   * JDK's own limit is a few elements below Integer.MAX_VALUE).
   */
  private static final long MAX_ARRAY = Integer.MAX_VALUE - 8L;

  /** Reads an image file (PNG, JPEG, BMP, GIF) into a frame owned by {@code arena}. */
  public static Frame read(Path file, Arena arena) throws IOException {
    return toFrame(readImage(file), arena);
  }

  /** {@link #readImage(Path, long)} with {@link #DEFAULT_MAX_PIXELS}. */
  public static BufferedImage readImage(Path file) throws IOException {
    return readImage(file, DEFAULT_MAX_PIXELS);
  }

  /**
   * Reads an image file (PNG, JPEG, BMP, GIF). Every failure is an {@link IOException} whose
   * message ends with the file:
   *
   * <ul>
   *   <li>a missing file, a folder, or anything that is not a regular file (a FIFO, a device, a
   *       socket). These are never opened (opening a FIFO waits for a writer, or releases one).
   *       A regular file is opened without blocking, its type checked again on that descriptor,
   *       and read through it: a FIFO renamed over the file after the check is never read (Linux
   *       with native access; elsewhere the check is by name only);
   *   <li>a header whose width or height exceeds {@link ImageLayout#MAX_SIDE}, whose pixel count
   *       exceeds {@code maxPixels} (a decompression-bomb guard, checked before decoding), or
   *       whose decoded size does not fit in a Java array;
   *   <li>a damaged file: a PNG chunk whose CRC does not match or a PNG without its end chunk, a
   *       decoder warning (a truncated JPEG, corrupt JPEG data), or a decoder error (e.g. a BMP
   *       whose data is short). Damaged images are refused rather than segmented as garbage.
   * </ul>
   *
   * @param maxPixels the largest width * height accepted, 1..{@link #MAX_PIXELS_LIMIT}
   * @throws IllegalArgumentException for {@code maxPixels} outside that range
   */
  public static BufferedImage readImage(Path file, long maxPixels) throws IOException {
    Objects.requireNonNull(file, "file");
    if (maxPixels < 1 || maxPixels > MAX_PIXELS_LIMIT) {
      throw new IllegalArgumentException("maxPixels must be 1.." + MAX_PIXELS_LIMIT + ", got " + maxPixels);
    }
    try (OpenedFile opened = openChecked(file)) {
      Path source = opened.readPath();
      try (ImageInputStream in = new FileImageInputStream(source.toFile())) {
        return decode(in, () -> Files.newInputStream(source), file.toString(), maxPixels);
      }
    }
  }

  /**
   * Decodes an image held in memory (PNG, JPEG, BMP, GIF), with the checks of {@link
   * #readImage(Path, long)}: header size limits before decoding, PNG chunk CRCs and end, decoder
   * warnings. Every failure is an {@link IOException} whose message ends with the data's length.
   *
   * @param maxPixels the largest width * height accepted, 1..{@link #MAX_PIXELS_LIMIT}
   * @throws IllegalArgumentException for {@code maxPixels} outside that range
   */
  public static BufferedImage readImage(byte[] data, long maxPixels) throws IOException {
    Objects.requireNonNull(data, "data");
    if (maxPixels < 1 || maxPixels > MAX_PIXELS_LIMIT) {
      throw new IllegalArgumentException("maxPixels must be 1.." + MAX_PIXELS_LIMIT + ", got " + maxPixels);
    }
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(data))) {
      return decode(in, () -> new ByteArrayInputStream(data), data.length + " bytes in memory", maxPixels);
    }
  }

  /** Opens the encoded bytes again from the start (the PNG chunk check reads them a second time). */
  private interface Reopen {
    InputStream open() throws IOException;
  }

  /**
   * Opens {@code file} if it is a regular file, without blocking, and checks on the open
   * descriptor that it still is, so that a FIFO or device swapped in under its name is never read.
   */
  private static OpenedFile openChecked(Path file) throws IOException {
    OpenedFile opened;
    try {
      opened = OpenedFile.open(file);
    } catch (NoSuchFileException e) {
      throw new IOException("no such image file: " + file);
    }
    BasicFileAttributes attributes = opened.attributes();
    if (attributes.isDirectory() || !attributes.isRegularFile()) {
      opened.close();
      throw new IOException(attributes.isDirectory()
          ? "a folder, not an image file: " + file
          : "not a regular file (a FIFO, device or socket), not read: " + file);
    }
    return opened;
  }

  /** Decodes the image of {@code in}; messages end with {@code file}. */
  private static BufferedImage decode(ImageInputStream in, Reopen again, String file, long maxPixels)
      throws IOException {
    Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
    if (!readers.hasNext()) {
      throw new IOException("not a readable image (PNG, JPEG, BMP, GIF): " + file);
    }
    ImageReader reader = readers.next();
    try {
      reader.setInput(in, true, true);
      String format = reader.getFormatName().toLowerCase(Locale.ROOT);
      int w;
      int h;
      try {
        w = reader.getWidth(0);
        h = reader.getHeight(0);
      } catch (IOException | RuntimeException e) {
        throw new IOException("cannot read the " + format + " header (" + describe(e) + "): " + file, e);
      }
      checkSize(w, h, maxPixels, format, file);
      if (format.equals("png")) {
        checkPngChunks(again, file);
      }
      List<String> warnings = new ArrayList<>();
      reader.addIIOReadWarningListener((r, warning) -> warnings.add(warning));
      BufferedImage image;
      try {
        image = reader.read(0);
      } catch (IOException | RuntimeException e) {
        throw new IOException("cannot decode the " + format + " data (" + describe(e) + "): " + file, e);
      } catch (OutOfMemoryError e) {
        throw new IOException("not enough Java heap to decode " + w + "x" + h + " " + format
            + " (raise -Xmx): " + file, e);
      }
      if (!warnings.isEmpty()) {
        throw new IOException("damaged " + format + " (" + String.join("; ", warnings) + "): " + file);
      }
      return image;
    } finally {
      reader.dispose();
    }
  }

  private static void checkSize(int w, int h, long maxPixels, String format, String file) throws IOException {
    if (w < 1 || h < 1) {
      throw new IOException("the " + format + " header gives an empty size " + w + "x" + h + ": " + file);
    }
    if (w > ImageLayout.MAX_SIDE || h > ImageLayout.MAX_SIDE) {
      throw new IOException("the " + format + " header gives " + w + "x" + h + ", larger than "
          + ImageLayout.MAX_SIDE + " pixels on a side, the most the library takes: " + file);
    }
    long pixels = (long) w * h;
    if (pixels > maxPixels) {
      throw new IOException("the " + format + " header gives " + w + "x" + h + " = " + pixels
          + " pixels, more than the limit of " + maxPixels + " (a guard against decompression bombs;"
          + " raise it with --max-pixels or Images.readImage(file, maxPixels)): " + file);
    }
    if (4 * pixels > MAX_ARRAY) { // decoded RGBA (or its BGR copy) is one array
      throw new IOException("the " + format + " header gives " + w + "x" + h + ": too large to decode"
          + " into a Java image (at most " + MAX_ARRAY / 4 + " pixels fit in one array): " + file);
    }
  }

  /**
   * Checks every chunk CRC of a PNG and that the file reaches its IEND chunk: the JDK's decoder
   * checks neither, so a flipped bit in the pixel data or a cut file would decode as garbage.
   */
  private static void checkPngChunks(Reopen source, String file) throws IOException {
    try (InputStream in = new BufferedInputStream(source.open(), 1 << 16)) {
      byte[] signature = in.readNBytes(8);
      if (signature.length < 8) {
        throw new IOException("truncated png (no signature): " + file);
      }
      byte[] head = new byte[8];
      byte[] buffer = new byte[1 << 16];
      CRC32 crc = new CRC32();
      long offset = 8;
      while (true) {
        if (in.readNBytes(head, 0, 8) < 8) {
          throw new IOException("truncated png (ends at byte " + offset + " before its IEND chunk): " + file);
        }
        long length = ByteBuffer.wrap(head, 0, 4).getInt() & 0xFFFFFFFFL;
        String type = new String(head, 4, 4, StandardCharsets.ISO_8859_1);
        if (length > Integer.MAX_VALUE) {
          throw new IOException("damaged png (chunk '" + type + "' at byte " + offset + " claims "
              + length + " bytes): " + file);
        }
        crc.reset();
        crc.update(head, 4, 4);
        long left = length;
        while (left > 0) {
          int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
          if (n < 0) {
            throw new IOException("truncated png (ends inside its '" + type + "' chunk at byte "
                + offset + "): " + file);
          }
          crc.update(buffer, 0, n);
          left -= n;
        }
        byte[] stored = in.readNBytes(4);
        if (stored.length < 4) {
          throw new IOException("truncated png (ends inside its '" + type + "' chunk at byte "
              + offset + "): " + file);
        }
        if ((ByteBuffer.wrap(stored).getInt() & 0xFFFFFFFFL) != crc.getValue()) {
          throw new IOException("damaged png (CRC mismatch in its '" + type + "' chunk at byte "
              + offset + "): " + file);
        }
        if (type.equals("IEND")) {
          return;
        }
        offset += 12 + length;
      }
    }
  }

  /** An exception's message, or its type where it has none (EOFException, say). */
  private static String describe(Throwable e) {
    String m = e.getMessage();
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }

  /** Copies the pixels of {@code image} into memory of {@code arena}: one copy, as described above. */
  public static Frame toFrame(BufferedImage image, Arena arena) {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(arena, "arena");
    int w = image.getWidth();
    int h = image.getHeight();
    Raster raster = image.getRaster();
    if (raster.getDataBuffer() instanceof DataBufferByte bytes
        && raster.getSampleModel() instanceof ComponentSampleModel sm
        && bytes.getNumBanks() == 1
        && raster.getSampleModelTranslateX() == 0
        && raster.getSampleModelTranslateY() == 0) {
      int[] offsets = sm.getBandOffsets();
      int pixelStride = sm.getPixelStride();
      int scanline = sm.getScanlineStride();
      PixelFormat format = null;
      int start = 0;
      if (pixelStride == 3 && Arrays.equals(offsets, new int[] {2, 1, 0})) {
        format = PixelFormat.BGR;
      } else if (pixelStride == 3 && Arrays.equals(offsets, new int[] {0, 1, 2})) {
        format = PixelFormat.RGB;
      } else if (pixelStride == 4 && Arrays.equals(offsets, new int[] {3, 2, 1, 0})) {
        // A,B,G,R bytes: seen from the B of the first pixel they read as B,G,R,(next A)
        format = PixelFormat.BGRA;
        start = 1;
      } else if (pixelStride == 4 && Arrays.equals(offsets, new int[] {0, 1, 2, 3})) {
        format = PixelFormat.RGBA;
      }
      if (format != null) {
        byte[] data = bytes.getData();
        int offset = bytes.getOffset() + start;
        ImageLayout layout = new ImageLayout(w, h, scanline, format);
        long size = layout.byteSize();
        MemorySegment pixels = arena.allocate(size + 1, 64);
        long available = Math.min(size, data.length - (long) offset);
        MemorySegment.copy(data, offset, pixels, ValueLayout.JAVA_BYTE, 0, (int) available);
        return new Frame(pixels, layout);
      }
    }
    if (raster.getDataBuffer() instanceof DataBufferInt ints
        && raster.getSampleModel() instanceof SinglePixelPackedSampleModel sm
        && ints.getNumBanks() == 1
        && raster.getSampleModelTranslateX() == 0
        && raster.getSampleModelTranslateY() == 0
        && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
      int[] masks = sm.getBitMasks();
      PixelFormat format = null;
      if (masks[0] == 0xFF0000 && masks[1] == 0xFF00 && masks[2] == 0xFF) {
        format = PixelFormat.BGRA; // 0x(AA)RRGGBB little-endian: B, G, R, A
      } else if (masks[0] == 0xFF && masks[1] == 0xFF00 && masks[2] == 0xFF0000) {
        format = PixelFormat.RGBA; // 0x00BBGGRR: R, G, B, 0
      }
      if (format != null) {
        int[] data = ints.getData();
        ImageLayout layout = new ImageLayout(w, h, 4L * sm.getScanlineStride(), format);
        MemorySegment pixels = arena.allocate(layout.byteSize(), 64);
        int count = (int) (layout.byteSize() / 4);
        MemorySegment.copy(data, ints.getOffset(), pixels, ValueLayout.JAVA_INT, 0, count);
        return new Frame(pixels, layout);
      }
    }
    BufferedImage bgr = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    Graphics2D g = bgr.createGraphics();
    try {
      g.drawImage(image, 0, 0, null);
    } finally {
      g.dispose();
    }
    return toFrame(bgr, arena);
  }

  /** Segments a Java image: its pixels are copied off-heap once ({@link #toFrame}). */
  public static Segmentation segment(MaskFormer model, BufferedImage image, SegmentOptions options) {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(options, "options");
    try (Arena arena = Arena.ofConfined()) {
      return model.segment(toFrame(image, arena), options);
    }
  }

  /** Reads and segments an image file (PNG, JPEG, BMP, GIF), with {@link #read}'s checks. */
  public static Segmentation segment(MaskFormer model, Path imageFile, SegmentOptions options) throws IOException {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(imageFile, "imageFile");
    Objects.requireNonNull(options, "options");
    try (Arena arena = Arena.ofConfined()) {
      return model.segment(read(imageFile, arena), options);
    }
  }

  /**
   * The label map as a grey image, pixel value = label: 8-bit for models with at most 256 classes,
   * 16-bit otherwise. The one rule of every label PNG the library writes (the command line, Flink's
   * sink and its SQL provider).
   */
  public static BufferedImage labelImage(Segmentation s) {
    if (s.numClasses() <= 256 && s.labelType() == Output.LabelType.U8) {
      int n = Math.toIntExact((long) s.width() * s.height());
      BufferedImage out = new BufferedImage(s.width(), s.height(), BufferedImage.TYPE_BYTE_GRAY);
      MemorySegment.copy(s.labels(), ValueLayout.JAVA_BYTE, 0,
          ((DataBufferByte) out.getRaster().getDataBuffer()).getData(), 0, n);
      return out;
    }
    return labelImage(s.width(), s.height(), s.toIntArray(), s.numClasses());
  }

  /**
   * Labels ({@code width * height}, row-major, each in 0..numClasses-1) as a grey image: 8-bit for
   * at most 256 classes, 16-bit otherwise (at most 65536).
   */
  public static BufferedImage labelImage(int width, int height, int[] labels, int numClasses) {
    int n = Math.multiplyExact(width, height);
    if (labels.length != n) {
      throw new IllegalArgumentException(labels.length + " labels for " + width + "x" + height);
    }
    if (numClasses < 1 || numClasses > 65536) {
      throw new IllegalArgumentException("numClasses " + numClasses + " outside 1..65536");
    }
    if (numClasses <= 256) {
      BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
      byte[] data = ((DataBufferByte) out.getRaster().getDataBuffer()).getData();
      for (int i = 0; i < n; i++) {
        data[i] = (byte) labels[i];
      }
      return out;
    }
    BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_USHORT_GRAY);
    short[] data = ((DataBufferUShort) out.getRaster().getDataBuffer()).getData();
    for (int i = 0; i < n; i++) {
      data[i] = (short) labels[i];
    }
    return out;
  }

  /** The palette colour of each pixel's class blended over {@code base}: alpha 0 = base only. */
  public static BufferedImage overlay(BufferedImage base, Segmentation s, double alpha) {
    if (base.getWidth() != s.width() || base.getHeight() != s.height()) {
      throw new IllegalArgumentException("image is " + base.getWidth() + "x" + base.getHeight()
          + ", segmentation " + s.width() + "x" + s.height());
    }
    if (!(alpha >= 0 && alpha <= 1)) {
      throw new IllegalArgumentException("alpha must be in [0, 1], got " + alpha);
    }
    int w = s.width();
    int h = s.height();
    // drawn, not read with getRGB: getRGB brightens grey images (it converts their linear grey to
    // sRGB), while drawing keeps grey g as (g, g, g), as toFrame gives it to the model
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g2 = out.createGraphics();
    try {
      g2.drawImage(base, 0, 0, null);
    } finally {
      g2.dispose();
    }
    int[] rgb = ((DataBufferInt) out.getRaster().getDataBuffer()).getData();
    int[] labels = s.toIntArray();
    int[] palette = s.classes().stream().mapToInt(ClassInfo::rgb).toArray();
    int a = (int) Math.round(alpha * 256);
    for (int i = 0; i < rgb.length; i++) {
      int p = rgb[i];
      int c = palette[labels[i]];
      int r = (((p >> 16) & 0xFF) * (256 - a) + ((c >> 16) & 0xFF) * a) >> 8;
      int g = (((p >> 8) & 0xFF) * (256 - a) + ((c >> 8) & 0xFF) * a) >> 8;
      int b = ((p & 0xFF) * (256 - a) + (c & 0xFF) * a) >> 8;
      rgb[i] = (r << 16) | (g << 8) | b;
    }
    return out;
  }

  /** A legend: one row per class, its colour and name. */
  public static BufferedImage legend(List<ClassInfo> classes) {
    int row = 24;
    int width = 320;
    BufferedImage out =
        new BufferedImage(width, Math.max(1, classes.size()) * row + 8, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, out.getWidth(), out.getHeight());
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
      int y = 4;
      for (ClassInfo c : classes) {
        g.setColor(new Color(c.rgb()));
        g.fillRect(6, y + 3, 28, row - 6);
        g.setColor(Color.DARK_GRAY);
        g.drawRect(6, y + 3, 28, row - 6);
        g.setColor(Color.BLACK);
        g.drawString(c.label() + "  " + c.shortName(), 44, y + row - 7);
        y += row;
      }
    } finally {
      g.dispose();
    }
    return out;
  }

  /** Writes a PNG. */
  public static void writePng(BufferedImage image, Path file) throws IOException {
    if (!ImageIO.write(image, "png", file.toFile())) {
      throw new IOException("no PNG writer for image type " + image.getType());
    }
  }

  /**
   * Writes the scores as a NumPy {@code .npy} file: float32, shape (K, H, W), straight from the
   * off-heap scores (no copy on the Java heap).
   */
  public static void writeScoresNpy(Segmentation s, Path file) throws IOException {
    MemorySegment scores =
        s.scores().orElseThrow(() -> new IllegalStateException("segmentation has no scores"));
    writeNpy(scores, "'<f4'", s.numClasses() + ", " + s.height() + ", " + s.width(), file);
  }

  /**
   * Writes the confidence map as a NumPy .npy file, H x W: float32 ({@link ConfidenceType#F32})
   * or uint8.
   */
  public static void writeConfidenceNpy(Segmentation s, Path file) throws IOException {
    MemorySegment confidence = s.confidence()
        .orElseThrow(() -> new IllegalStateException("segmentation has no confidence map"));
    String type = s.confidenceType() == ConfidenceType.F32 ? "'<f4'" : "'|u1'";
    writeNpy(confidence, type, s.height() + ", " + s.width(), file);
  }

  private static void writeNpy(MemorySegment data, String descr, String shape, Path file)
      throws IOException {
    String dict = "{'descr': " + descr + ", 'fortran_order': False, 'shape': (" + shape + "), }";
    int headerLength = 10 + dict.length() + 1;
    int padding = (64 - headerLength % 64) % 64;
    StringBuilder header = new StringBuilder(dict);
    header.append(" ".repeat(padding)).append('\n');
    ByteBuffer head = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
    head.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
    head.putShort((short) header.length());
    head.put(header.toString().getBytes(StandardCharsets.US_ASCII));
    head.flip();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      while (head.hasRemaining()) {
        ch.write(head);
      }
      ByteBuffer body = data.asByteBuffer();
      while (body.hasRemaining()) {
        ch.write(body);
      }
    }
  }
}
