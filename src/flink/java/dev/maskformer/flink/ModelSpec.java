// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Segmentation.Region;
import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.images.Images;
import dev.maskformer.PixelFormat;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedCatalogModel;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

/**
 * What one {@code CREATE MODEL ... WITH ('provider' = 'maskformer')} asks for: how its INPUT
 * columns make a frame, which OUTPUT columns it wants, the segmentation settings and the bad-row
 * policy. Made and checked on the client when a query is planned; travels with the job graph.
 *
 * <p>Thread-safety: immutable.
 */
final class ModelSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  /** What happens to a bad row. */
  enum OnError {
    /** The job fails with the row's problem. */
    FAIL,
    /** The row's outputs are null; an {@code error} column, if declared, says why. */
    NULL
  }

  /** The OUTPUT columns this provider fills, by name. */
  enum Out {
    LABELS("labels", "BYTES: the label map as a PNG (8-bit grey, 16-bit above 256 classes),"
        + " pixel value = class label"),
    CLASSES("classes", "ARRAY<ROW<label INT, name STRING, pixels BIGINT>>: the classes present,"
        + " most pixels first"),
    SEGMENTS("segments", "ARRAY<ROW<id INT, label INT, name STRING, score FLOAT, area BIGINT,"
        + " x INT, y INT, width INT, height INT>>: MaskFormer's segments"),
    WIDTH("width", "INT"),
    HEIGHT("height", "INT"),
    ERROR("error", "STRING: why a bad row has null results (with 'on-error' = 'null'), else null");

    final String column;
    final String description;

    Out(String column, String description) {
      this.column = column;
      this.description = description;
    }

    static String list() {
      return Arrays.stream(values()).map(o -> o.column + " " + o.description)
          .collect(Collectors.joining("; "));
    }
  }

  /** A row this provider cannot segment; the message says why. */
  static final class BadRowException extends Exception {
    private static final long serialVersionUID = 1L;

    BadRowException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  final String model;
  final SegmentConfig config;
  final long maxPixels;
  final OnError onError;
  /** Encoded input: the index of the bytes; raw input: -1. */
  final int encoded;
  /** Raw input: indexes of pixels, width, height, format. */
  final int[] raw;
  final Out[] outputs;

  private ModelSpec(String model, SegmentConfig config, long maxPixels, OnError onError,
      int encoded, int[] raw, Out[] outputs) {
    this.model = model;
    this.config = config;
    this.maxPixels = maxPixels;
    this.onError = onError;
    this.encoded = encoded;
    this.raw = raw;
    this.outputs = outputs;
  }

  boolean wants(Out o) {
    return Arrays.asList(outputs).contains(o);
  }

  /**
   * @throws ValidationException INPUT or OUTPUT columns that do not fit
   */
  static ModelSpec of(String model, ResolvedCatalogModel catalog, SegmentConfig config,
      long maxPixels, OnError onError) {
    ResolvedSchema in = catalog.getResolvedInputSchema();
    int encoded = -1;
    int[] raw = null;
    List<Column> inputs = in.getColumns();
    if (inputs.size() == 1) {
      require(model, "INPUT", inputs.get(0), LogicalTypeRoot.VARBINARY, LogicalTypeRoot.BINARY);
      encoded = 0;
    } else {
      raw = new int[4];
      String[] names = {"pixels", "width", "height", "format"};
      for (int i = 0; i < names.length; i++) {
        raw[i] = in.getColumnNames().indexOf(names[i]);
      }
      if (inputs.size() != 4 || Arrays.stream(raw).anyMatch(i -> i < 0)) {
        throw new ValidationException("model " + model + ": INPUT must be one BYTES column (an"
            + " encoded PNG, JPEG, BMP or GIF) or the four columns (pixels BYTES, width INT, height"
            + " INT, format STRING), got " + in.getColumnNames());
      }
      require(model, "INPUT", inputs.get(raw[0]), LogicalTypeRoot.VARBINARY, LogicalTypeRoot.BINARY);
      require(model, "INPUT", inputs.get(raw[1]), LogicalTypeRoot.INTEGER);
      require(model, "INPUT", inputs.get(raw[2]), LogicalTypeRoot.INTEGER);
      require(model, "INPUT", inputs.get(raw[3]), LogicalTypeRoot.VARCHAR, LogicalTypeRoot.CHAR);
    }
    List<Column> outs = catalog.getResolvedOutputSchema().getColumns();
    Out[] outputs = new Out[outs.size()];
    for (int i = 0; i < outputs.length; i++) {
      Column c = outs.get(i);
      Out o = Arrays.stream(Out.values()).filter(x -> x.column.equals(c.getName())).findFirst()
          .orElseThrow(() -> new ValidationException("model " + model + ": unknown OUTPUT column '"
              + c.getName() + "'; this provider fills " + Out.list()));
      LogicalType t = c.getDataType().getLogicalType();
      boolean fits = switch (o) {
        case LABELS -> t.is(LogicalTypeRoot.VARBINARY) || t.is(LogicalTypeRoot.BINARY);
        case WIDTH, HEIGHT -> t.is(LogicalTypeRoot.INTEGER);
        case ERROR -> t.is(LogicalTypeRoot.VARCHAR);
        case CLASSES -> rowArray(t, LogicalTypeRoot.INTEGER, LogicalTypeRoot.VARCHAR,
            LogicalTypeRoot.BIGINT);
        case SEGMENTS -> rowArray(t, LogicalTypeRoot.INTEGER, LogicalTypeRoot.INTEGER,
            LogicalTypeRoot.VARCHAR, LogicalTypeRoot.FLOAT, LogicalTypeRoot.BIGINT,
            LogicalTypeRoot.INTEGER, LogicalTypeRoot.INTEGER, LogicalTypeRoot.INTEGER,
            LogicalTypeRoot.INTEGER);
      };
      if (!fits) {
        throw new ValidationException("model " + model + ": OUTPUT column '" + c.getName()
            + "' is " + t + ", but must be " + o.description);
      }
      if (onError == OnError.NULL && !t.isNullable() && o != Out.ERROR) {
        throw new ValidationException("model " + model + ": OUTPUT column '" + c.getName()
            + "' is NOT NULL, but 'on-error' = 'null' gives bad rows null results");
      }
      outputs[i] = o;
    }
    return new ModelSpec(model, config, maxPixels, onError, encoded, raw, outputs);
  }

  private static void require(String model, String side, Column c, LogicalTypeRoot... roots) {
    LogicalType t = c.getDataType().getLogicalType();
    if (Arrays.stream(roots).noneMatch(t::is)) {
      throw new ValidationException("model " + model + ": " + side + " column '" + c.getName()
          + "' is " + t + ", expected " + Arrays.toString(roots));
    }
  }

  /** ARRAY of ROW whose fields have these types, in this order (field names are free). */
  private static boolean rowArray(LogicalType t, LogicalTypeRoot... fields) {
    if (!(t instanceof ArrayType a) || !(a.getElementType() instanceof RowType r)
        || r.getFieldCount() != fields.length) {
      return false;
    }
    for (int i = 0; i < fields.length; i++) {
      if (!r.getTypeAt(i).is(fields[i])) {
        return false;
      }
    }
    return true;
  }

  /**
   * The frame of a row (arguments in INPUT order).
   *
   * @throws BadRowException null, undecodable or damaged image, too many pixels, pixel bytes that
   *     do not fit the size and format, an unknown format
   */
  VideoFrame frame(RowData row) throws BadRowException {
    if (encoded >= 0) {
      if (row.isNullAt(encoded)) {
        throw new BadRowException("the image is null", null);
      }
      BufferedImage image;
      try {
        image = Images.readImage(row.getBinary(encoded), maxPixels);
      } catch (IOException e) {
        throw new BadRowException(e.getMessage(), e);
      }
      // the library's own conversion (as Images.read does), then packed rows on the heap
      try (Arena arena = Arena.ofConfined()) {
        Frame f = Images.toFrame(image, arena);
        return VideoFrame.of("sql", 0, 0, f);
      }
    }
    String[] names = {"pixels", "width", "height", "format"};
    for (int j = 0; j < raw.length; j++) {
      if (row.isNullAt(raw[j])) {
        throw new BadRowException(names[j] + " is null", null);
      }
    }
    int width = row.getInt(raw[1]);
    int height = row.getInt(raw[2]);
    String name = row.getString(raw[3]).toString();
    // a format name; a YUV one may be followed by its colour matrix and range: 'I420 BT709 FULL'
    String[] words = name.trim().toUpperCase(Locale.ROOT).split("[\\s,/]+");
    PixelFormat format;
    ColorMatrix matrix = ColorMatrix.BT601;
    ColorRange range = ColorRange.LIMITED;
    try {
      format = PixelFormat.valueOf(words[0]);
      if (words.length > 3 || words.length > 1 && !format.isYuv()) {
        throw new IllegalArgumentException("too many words");
      }
      if (words.length > 1) {
        matrix = ColorMatrix.valueOf(words[1]);
      }
      if (words.length > 2) {
        range = ColorRange.valueOf(words[2]);
      }
    } catch (IllegalArgumentException e) {
      throw new BadRowException("unknown pixel format '" + name + "' (RGB, BGR, RGBA, BGRA, or NV12,"
          + " I420, NV21 optionally followed by BT601|BT709|BT2020 and LIMITED|FULL)", e);
    }
    if (width > 0 && height > 0 && (long) width * height > maxPixels) {
      throw new BadRowException(width + "x" + height + " = " + (long) width * height
          + " pixels, more than 'max-pixels' = " + maxPixels, null);
    }
    try {
      ImageLayout.packed(width, height, format); // sizes and format
      return new VideoFrame("sql", 0, 0, width, height, format, row.getBinary(raw[0]), matrix, range);
    } catch (IllegalArgumentException e) {
      throw new BadRowException(e.getMessage(), e);
    }
  }

  /** The result row of a segmented frame, columns in OUTPUT order. */
  RowData row(SegmentedFrame s, List<Region> segments, List<ClassInfo> classes) {
    GenericRowData out = new GenericRowData(outputs.length);
    for (int i = 0; i < outputs.length; i++) {
      out.setField(i, switch (outputs[i]) {
        case LABELS -> png(s);
        case CLASSES -> classes(s.histogram(), classes);
        case SEGMENTS -> segments(segments, classes);
        case WIDTH -> s.width();
        case HEIGHT -> s.height();
        case ERROR -> null;
      });
    }
    return out;
  }

  /** The row of a bad input under {@link OnError#NULL}: nulls, and the reason in {@code error}. */
  RowData nullRow(String reason) {
    GenericRowData out = new GenericRowData(outputs.length);
    for (int i = 0; i < outputs.length; i++) {
      if (outputs[i] == Out.ERROR) {
        out.setField(i, StringData.fromString(reason));
      }
    }
    return out;
  }

  static byte[] png(SegmentedFrame s) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.width() * s.height() / 4 + 1024);
    try {
      if (!ImageIO.write(LabelPngSink.labelImage(s), "png", bytes)) {
        throw new IOException("no PNG writer");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("encoding the label map of " + s + " as PNG", e);
    }
    return bytes.toByteArray();
  }

  private static GenericArrayData classes(long[] histogram, List<ClassInfo> classes) {
    List<Integer> present = new ArrayList<>();
    for (int label = 0; label < histogram.length; label++) {
      if (histogram[label] > 0) {
        present.add(label);
      }
    }
    present.sort((a, b) -> histogram[a] != histogram[b] ? Long.compare(histogram[b], histogram[a])
        : Integer.compare(a, b));
    Object[] rows = new Object[present.size()];
    for (int i = 0; i < rows.length; i++) {
      int label = present.get(i);
      rows[i] = GenericRowData.of(label, name(classes, label), histogram[label]);
    }
    return new GenericArrayData(rows);
  }

  private static GenericArrayData segments(List<Region> segments, List<ClassInfo> classes) {
    Object[] rows = new Object[segments.size()];
    for (int i = 0; i < rows.length; i++) {
      Region g = segments.get(i);
      rows[i] = GenericRowData.of(g.id(), g.label(), name(classes, g.label()), g.score(), g.area(),
          g.x(), g.y(), g.width(), g.height());
    }
    return new GenericArrayData(rows);
  }

  private static StringData name(List<ClassInfo> classes, int label) {
    return StringData.fromString(label < classes.size() ? classes.get(label).name() : null);
  }
}
