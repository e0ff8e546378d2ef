// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.Segmentation.Region;
import static org.apache.flink.table.api.Expressions.$;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.MaskFormer;
import dev.maskformer.PixelFormat;
import dev.maskformer.SegmentOptions;
import dev.maskformer.Segmentation;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ModelDescriptor;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.types.ColumnList;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Flink SQL's {@code ML_PREDICT} with the {@code 'maskformer'} model provider, in SQL and with the
 * Table API, on a MiniCluster (1 TaskManager x 2 slots) with the tiny test model: every output
 * equals the library's own call on the same image (labels, classes with pixel counts, segments),
 * async and sync; raw pixel rows; bad rows under both policies; schema errors at planning time.
 */
class FlinkSqlIT {
  @RegisterExtension
  static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  static final String CLASSES = "ARRAY<ROW<label INT, name STRING, pixels BIGINT>>";
  static final String SEGMENTS = "ARRAY<ROW<id INT, label INT, name STRING, score FLOAT,"
      + " area BIGINT, x INT, y INT, width INT, height INT>>";

  static Path model;
  /** Encoded test images by name: PNGs of four fixture scenes, two JPEGs. */
  static final Map<String, byte[]> IMAGES = new LinkedHashMap<>();
  long handlesBefore;

  @BeforeAll
  static void images() throws IOException {
    Path models = Path.of(System.getProperty("maskformer.testModels", "target/test-models"));
    model = models.resolve("tiny.pt");
    for (String scene : List.of("scene_97x61", "scene_320x256", "scene_128x128", "scene_333x517")) {
      IMAGES.put(scene + ".png", Files.readAllBytes(models.resolve("images/" + scene + ".png")));
    }
    BufferedImage big = ImageIO.read(models.resolve("images/scene_640x480.png").toFile());
    IMAGES.put("scene_640x480.jpg", encode(big, "jpg"));
    IMAGES.put("crop_200x150.jpg", encode(big.getSubimage(100, 80, 200, 150), "jpg"));
  }

  @BeforeEach
  void before() {
    handlesBefore = MaskFormerRuntime.liveNativeHandles();
  }

  @AfterEach
  void everythingReleased() {
    assertEquals(0, SharedModels.openModels(), "models left open");
    assertEquals(0, SharedModels.leases(), "leases left");
    assertEquals(handlesBefore, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  /** A stream environment (parallelism 2, no Kryo) and its table environment. */
  record Envs(StreamExecutionEnvironment env, StreamTableEnvironment t) {}

  static Envs envs() {
    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(2);
    return new Envs(env, StreamTableEnvironment.create(env));
  }

  /** A view {@code frames(name STRING, image BYTES)} of these rows. */
  static void frames(Envs e, Map<String, byte[]> images) {
    List<Row> rows = new ArrayList<>();
    images.forEach((name, bytes) -> rows.add(Row.of(name, bytes)));
    TypeInformation<Row> type = Types.ROW_NAMED(new String[] {"name", "image"}, Types.STRING,
        Types.PRIMITIVE_ARRAY(Types.BYTE));
    e.t().createTemporaryView("frames", e.t().fromDataStream(e.env().fromData(rows, type)));
  }

  static List<Row> collect(Table table) throws Exception {
    List<Row> out = new ArrayList<>();
    try (CloseableIterator<Row> it = table.execute().collect()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  static byte[] encode(BufferedImage image, String format) throws IOException {
    BufferedImage bgr = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_3BYTE_BGR);
    bgr.getGraphics().drawImage(image, 0, 0, null);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(bgr, format, out));
    return out.toByteArray();
  }

  /** The labels of a label PNG. */
  static int[] labels(byte[] png) throws IOException {
    BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
    int[] out = new int[img.getWidth() * img.getHeight()];
    img.getRaster().getPixels(0, 0, img.getWidth(), img.getHeight(), out);
    return out;
  }

  /** Checks a result row's outputs against the library's own call on the same image. */
  static void assertDirect(MaskFormer m, BufferedImage image, Row r, String what) throws IOException {
    try (Segmentation s = Images.segment(m, image, SegmentOptions.DEFAULTS.withRegions(true))) {
      assertEquals(s.width(), r.<Integer>getFieldAs("width"), what);
      assertEquals(s.height(), r.<Integer>getFieldAs("height"), what);
      assertArrayEquals(s.toIntArray(), labels(r.getFieldAs("labels")), what + " labels");
      long[] histogram = s.histogram();
      Row[] classes = r.getFieldAs("classes");
      long total = 0;
      long previous = Long.MAX_VALUE;
      for (Row c : classes) {
        int label = c.<Integer>getFieldAs(0);
        long pixels = c.<Long>getFieldAs(2);
        assertEquals(histogram[label], pixels, what + " class " + label);
        assertEquals(m.info().classes().get(label).name(), c.getField(1), what);
        assertTrue(pixels <= previous, what + ": most pixels first");
        previous = pixels;
        total += pixels;
      }
      assertEquals((long) s.width() * s.height(), total, what + ": every pixel in a class");
      assertEquals(Arrays.stream(histogram).filter(h -> h > 0).count(), classes.length, what);
      if (r.getFieldNames(true).contains("segments")) {
        Row[] segments = r.getFieldAs("segments");
        List<Region> expected = s.regions();
        assertEquals(expected.size(), segments.length, what + " segments");
        for (int i = 0; i < segments.length; i++) {
          Region e = expected.get(i);
          Row g = segments[i];
          assertEquals(List.of(e.id(), e.label(), m.info().classes().get(e.label()).name(), e.score(),
              e.area(), e.x(), e.y(), e.width(), e.height()),
              List.of(g.getField(0), g.getField(1), g.getField(2), g.getField(3), g.getField(4),
                  g.getField(5), g.getField(6), g.getField(7), g.getField(8)), what + " segment " + i);
        }
      }
    }
  }

  @Test
  void sqlEncodedImagesEqualDirectCallsAsyncAndSync() throws Exception {
    long loads = SharedModels.loads();
    Envs e = envs();
    StreamTableEnvironment t = e.t();
    frames(e, IMAGES);
    t.executeSql("CREATE TEMPORARY MODEL seg INPUT (image BYTES) OUTPUT (labels BYTES, classes "
        + CLASSES + ", segments " + SEGMENTS + ", width INT, height INT) WITH ('provider' ="
        + " 'maskformer', 'path' = '" + model + "', 'batch-size' = '4', 'batch-delay' = '50 ms')");
    String query = "SELECT name, labels, classes, segments, width, height FROM ML_PREDICT(TABLE"
        + " frames, MODEL seg, DESCRIPTOR(image)%s)";
    List<Row> async = collect(t.sqlQuery(String.format(query, "")));
    List<Row> sync = collect(t.sqlQuery(String.format(query, ", MAP['async', 'false']")));
    assertEquals(IMAGES.size(), async.size());
    assertEquals(IMAGES.size(), sync.size());
    Map<String, Row> byName = new HashMap<>();
    try (MaskFormer m = MaskFormer.load(model)) {
      for (List<Row> rows : List.of(async, sync)) {
        for (Row r : rows) {
          String name = r.getFieldAs("name");
          assertDirect(m, Images.readImage(IMAGES.get(name), Images.DEFAULT_MAX_PIXELS), r, name);
          byName.put(name, r);
        }
      }
    }
    assertEquals(IMAGES.keySet(), byName.keySet());
    assertTrue(SharedModels.loads() - loads <= 2, "one load per job: the subtasks share it");
  }

  /** docs/flink.md's SQL, as it stands there (with the test model), on the test images and a bad row. */
  @Test
  void theDocumentedSqlRuns() throws Exception {
    List<String> sql = FlinkDocsTest.blocks("sql");
    assertEquals(1, sql.size());
    String[] statements = sql.get(0).replace("/models/swin-tiny.pt", model.toString()).split(";");
    Envs e = envs();
    StreamTableEnvironment t = e.t();
    Map<String, byte[]> rows = new LinkedHashMap<>(IMAGES);
    byte[] png = IMAGES.get("scene_97x61.png");
    rows.put("cut.png", Arrays.copyOf(png, png.length - 40));
    frames(e, rows);
    t.executeSql(statements[0]);
    assertTrue(statements[2].isBlank());
    Map<String, Row> results = new HashMap<>();
    for (Row r : collect(t.sqlQuery(statements[1]))) {
      results.put(r.getFieldAs("name"), r);
    }
    assertEquals(rows.keySet(), results.keySet());
    try (MaskFormer m = MaskFormer.load(model)) {
      for (String name : IMAGES.keySet()) {
        Row r = results.get(name);
        try (Segmentation s = Images.segment(m, Images.readImage(IMAGES.get(name), Images.DEFAULT_MAX_PIXELS), SegmentOptions.DEFAULTS)) {
          long[] h = s.histogram();
          int main = 0;
          for (int label = 1; label < h.length; label++) {
            main = h[label] > h[main] ? label : main;
          }
          assertEquals(m.info().classes().get(main).name(), r.getField("main_class"), name);
          assertEquals(h[main], r.<Long>getFieldAs("main_pixels"), name);
          assertEquals((int) Arrays.stream(h).filter(c -> c > 0).count(), r.<Integer>getFieldAs("class_count"), name);
          assertEquals(true, r.getField("has_labels"), name);
          assertNull(r.getField("error"), name);
        }
      }
    }
    Row bad = results.get("cut.png");
    assertNull(bad.getField("main_class"));
    assertEquals(false, bad.getField("has_labels"));
    assertTrue(bad.<String>getFieldAs("error").startsWith("truncated png (ends inside its 'IDAT' chunk"),
        bad.toString());
    System.out.println("FlinkSqlIT docs example, bad row: " + bad);
  }

  @Test
  void tableApiWithRawPixelsEqualsDirectCalls() throws Exception {
    Envs e = envs();
    StreamTableEnvironment t = e.t();
    // raw rows: the decoded scenes' pixels in three formats, and two as YUV 4:2:0 with colours
    List<Row> rows = new ArrayList<>();
    List<BufferedImage> images = new ArrayList<>();
    PixelFormat[] formats = {PixelFormat.BGR, PixelFormat.RGB, PixelFormat.RGBA};
    int i = 0;
    for (byte[] encoded : IMAGES.values()) {
      BufferedImage image = Images.readImage(encoded, Images.DEFAULT_MAX_PIXELS);
      PixelFormat format = formats[i % formats.length];
      rows.add(Row.of(i, pixels(image, format), image.getWidth(), image.getHeight(), format.name()));
      images.add(image);
      i++;
    }
    int packedRows = rows.size();
    String[] yuvFormats = {"nv12", "I420 BT709 FULL"};
    for (String fmt : yuvFormats) {
      BufferedImage image = images.get(i - packedRows);
      rows.add(Row.of(i, yuv(image, fmt.startsWith("nv12")), image.getWidth(), image.getHeight(), fmt));
      i++;
    }
    TypeInformation<Row> type = Types.ROW_NAMED(new String[] {"id", "px", "w", "h", "fmt"},
        Types.INT, Types.PRIMITIVE_ARRAY(Types.BYTE), Types.INT, Types.INT, Types.STRING);
    Table raw = t.fromDataStream(e.env().fromData(rows, type));
    t.createTemporaryModel("seg_raw", ModelDescriptor.forProvider("maskformer")
        .inputSchema(Schema.newBuilder().column("pixels", DataTypes.BYTES())
            .column("width", DataTypes.INT()).column("height", DataTypes.INT())
            .column("format", DataTypes.STRING()).build())
        .outputSchema(Schema.newBuilder().column("labels", DataTypes.BYTES())
            .column("classes", DataTypes.ARRAY(DataTypes.ROW(
                DataTypes.FIELD("label", DataTypes.INT()), DataTypes.FIELD("name", DataTypes.STRING()),
                DataTypes.FIELD("pixels", DataTypes.BIGINT()))))
            .column("width", DataTypes.INT()).column("height", DataTypes.INT()).build())
        .option("path", model.toString())
        .option("workers", "2")
        .build());
    Table out = t.fromModel("seg_raw").predict(raw, ColumnList.of("px", "w", "h", "fmt"))
        .select($("id"), $("labels"), $("classes"), $("width"), $("height"));
    List<Row> results = collect(out);
    assertEquals(rows.size(), results.size());
    try (MaskFormer m = MaskFormer.load(model); Arena arena = Arena.ofConfined()) {
      for (Row r : results) {
        int id = r.getFieldAs("id");
        Row in = rows.get(id);
        // the direct call on the same raw pixels
        byte[] px = in.getFieldAs(1);
        MemorySegment seg = arena.allocate(px.length);
        MemorySegment.copy(px, 0, seg, ValueLayout.JAVA_BYTE, 0, px.length);
        String fmt = in.getFieldAs(4);
        PixelFormat format = PixelFormat.valueOf(fmt.split(" ")[0].toUpperCase(java.util.Locale.ROOT));
        ImageLayout layout = ImageLayout.packed(in.getFieldAs(2), in.getFieldAs(3), format);
        if (fmt.contains("BT709")) {
          layout = layout.withColor(ColorMatrix.BT709, ColorRange.FULL);
        }
        try (Segmentation s = m.segment(new Frame(seg, layout))) {
          assertArrayEquals(s.toIntArray(), labels(r.getFieldAs("labels")), "raw row " + id + " " + fmt);
        }
        if (id < packedRows) {
          assertDirect(m, images.get(id), r, "raw row " + id); // and equal to the decoded image's
        }
      }
    }
  }

  /** An image as YUV 4:2:0 (NV12 or I420, planes one after the other; any conversion will do). */
  static byte[] yuv(BufferedImage image, boolean nv12) {
    int w = image.getWidth();
    int h = image.getHeight();
    int cw = (w + 1) / 2;
    int ch = (h + 1) / 2;
    byte[] out = new byte[w * h + 2 * cw * ch];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int rgb = image.getRGB(x, y);
        int r = (rgb >> 16) & 0xFF;
        int g = (rgb >> 8) & 0xFF;
        int b = rgb & 0xFF;
        out[y * w + x] = (byte) (16 + (66 * r + 129 * g + 25 * b) / 256);
        if (x % 2 == 0 && y % 2 == 0) {
          int u = 128 + (-38 * r - 74 * g + 112 * b) / 256;
          int v = 128 + (112 * r - 94 * g - 18 * b) / 256;
          int c = (y / 2) * cw + x / 2;
          if (nv12) {
            out[w * h + 2 * c] = (byte) u;
            out[w * h + 2 * c + 1] = (byte) v;
          } else {
            out[w * h + c] = (byte) u;
            out[w * h + cw * ch + c] = (byte) v;
          }
        }
      }
    }
    return out;
  }

  /** Packed pixels of an image in a format. */
  static byte[] pixels(BufferedImage image, PixelFormat format) {
    int w = image.getWidth();
    int h = image.getHeight();
    int c = format.channels();
    byte[] out = new byte[w * h * c];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int rgb = image.getRGB(x, y);
        int o = (y * w + x) * c;
        byte r = (byte) (rgb >> 16);
        byte g = (byte) (rgb >> 8);
        byte b = (byte) rgb;
        boolean rgbOrder = format == PixelFormat.RGB || format == PixelFormat.RGBA;
        out[o] = rgbOrder ? r : b;
        out[o + 1] = g;
        out[o + 2] = rgbOrder ? b : r;
        if (c == 4) {
          out[o + 3] = (byte) 255;
        }
      }
    }
    return out;
  }

  /** Bad rows of each kind and one good row. */
  static Map<String, byte[]> badRows() throws IOException {
    Map<String, byte[]> rows = new LinkedHashMap<>();
    byte[] png = IMAGES.get("scene_97x61.png");
    rows.put("good", png);
    rows.put("cut png", Arrays.copyOf(png, png.length - 40));
    byte[] noise = new byte[5000];
    new Random(7).nextBytes(noise);
    rows.put("noise", noise);
    rows.put("empty", new byte[0]);
    rows.put("null", null);
    rows.put("too many pixels", IMAGES.get("scene_640x480.jpg")); // 307200 > max-pixels
    byte[] jpeg = IMAGES.get("crop_200x150.jpg");
    rows.put("cut jpeg", Arrays.copyOf(jpeg, jpeg.length / 2));
    return rows;
  }

  @Test
  void badRowsGetNullResultsAndTheirReasonWithOnErrorNull() throws Exception {
    Envs e = envs();
    StreamTableEnvironment t = e.t();
    Map<String, byte[]> rows = badRows();
    frames(e, rows);
    t.executeSql("CREATE TEMPORARY MODEL seg INPUT (image BYTES) OUTPUT (labels BYTES, classes "
        + CLASSES + ", width INT, height INT, error STRING) WITH ('provider' = 'maskformer',"
        + " 'path' = '" + model + "', 'on-error' = 'null', 'max-pixels' = '200000')");
    Map<String, Row> results = new HashMap<>();
    for (Row r : collect(t.sqlQuery("SELECT * FROM ML_PREDICT(TABLE frames, MODEL seg,"
        + " DESCRIPTOR(image))"))) {
      results.put(r.getFieldAs("name"), r);
    }
    assertEquals(rows.keySet(), results.keySet());
    Row good = results.get("good");
    assertNull(good.getField("error"));
    try (MaskFormer m = MaskFormer.load(model)) {
      assertDirect(m, Images.readImage(rows.get("good"), Images.DEFAULT_MAX_PIXELS), good, "good");
    }
    Map<String, String> reasons = Map.of(
        "cut png", "truncated png",
        "noise", "not a readable image",
        "empty", "not a readable image",
        "null", "the image is null",
        "too many pixels", "640x480 = 307200 pixels, more than the limit of 200000",
        "cut jpeg", "damaged jpeg");
    reasons.forEach((name, reason) -> {
      Row r = results.get(name);
      assertNull(r.getField("labels"), name);
      assertNull(r.getField("classes"), name);
      assertNull(r.getField("width"), name);
      String error = r.getFieldAs("error");
      assertNotNull(error, name);
      assertTrue(error.contains(reason), name + ": " + error);
    });
  }

  @Test
  void aBadRowFailsTheQueryWithItsReasonByDefault() throws Exception {
    Envs e = envs();
    StreamTableEnvironment t = e.t();
    Map<String, byte[]> rows = new LinkedHashMap<>();
    rows.put("good", IMAGES.get("scene_97x61.png"));
    rows.put("bad", Arrays.copyOf(IMAGES.get("scene_97x61.png"), 100));
    frames(e, rows);
    t.executeSql("CREATE TEMPORARY MODEL seg INPUT (image BYTES) OUTPUT (labels BYTES) WITH"
        + " ('provider' = 'maskformer', 'path' = '" + model + "')");
    Exception failure = assertThrows(Exception.class, () -> collect(t.sqlQuery(
        "SELECT * FROM ML_PREDICT(TABLE frames, MODEL seg, DESCRIPTOR(image))")));
    String chain = chain(failure);
    assertTrue(chain.contains("bad row (truncated png"), chain);
    assertTrue(chain.contains("'on-error' = 'null'"), chain);
    // the messages name the problem, not the row: its text would hold every byte of the image
    assertTrue(chain.length() < 4000, chain.length() + " characters: " + chain);
  }

  @Test
  void schemaErrorsAreReportedWhenTheQueryIsPlanned() {
    Envs e = envs();
    StreamTableEnvironment t = e.t();
    frames(e, Map.of("a", IMAGES.get("scene_97x61.png")));
    t.executeSql("CREATE TEMPORARY MODEL unknown_out INPUT (image BYTES) OUTPUT (mask BYTES) WITH"
        + " ('provider' = 'maskformer', 'path' = '" + model + "')");
    t.executeSql("CREATE TEMPORARY MODEL wrong_type INPUT (image BYTES) OUTPUT (classes ARRAY<INT>)"
        + " WITH ('provider' = 'maskformer', 'path' = '" + model + "')");
    t.executeSql("CREATE TEMPORARY MODEL bad_option INPUT (image BYTES) OUTPUT (labels BYTES)"
        + " WITH ('provider' = 'maskformer', 'path' = '" + model + "', 'batch-size' = '-1')");
    t.executeSql("CREATE TEMPORARY MODEL typo INPUT (image BYTES) OUTPUT (labels BYTES)"
        + " WITH ('provider' = 'maskformer', 'path' = '" + model + "', 'on_error' = 'null')");
    Map<String, String> expected = Map.of(
        "unknown_out", "unknown OUTPUT column 'mask'",
        "wrong_type", "OUTPUT column 'classes' is ARRAY<INT>",
        "bad_option", "maxBatch must be 1..1024 or AUTO_BATCH (0), got -1",
        "typo", "on_error");
    expected.forEach((name, text) -> {
      Exception failure = assertThrows(Exception.class, () -> t.sqlQuery("SELECT * FROM"
          + " ML_PREDICT(TABLE frames, MODEL " + name + ", DESCRIPTOR(image))").explain());
      assertTrue(chain(failure).contains(text), name + ": " + chain(failure));
    });
  }

  static String chain(Throwable e) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = e; c != null; c = c.getCause()) {
      b.append(c.getClass().getName()).append(": ").append(c.getMessage()).append('\n');
    }
    return b.toString();
  }
}
