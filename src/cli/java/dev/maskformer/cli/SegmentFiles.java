// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.SegmentOptions.RegionRule;
import dev.maskformer.Segmentation.Region;
import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The CLI's segment outputs: the 16-bit id image, JSON, outlines. */
final class SegmentFiles {
  private SegmentFiles() {}

  /** Ids as a 16-bit grey image (at most num_queries segments, far below 65536). */
  static BufferedImage idImage(int[] ids, int width, int height) {
    BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_USHORT_GRAY);
    WritableRaster r = out.getRaster();
    int[] row = new int[width];
    for (int y = 0; y < height; y++) {
      System.arraycopy(ids, y * width, row, 0, width);
      r.setPixels(0, y, width, 1, row);
    }
    return out;
  }

  /** Pixels whose right or lower neighbour lies in another segment become {@code rgb}. */
  static void outline(BufferedImage image, int[] ids, int width, int height, int rgb) {
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int id = ids[y * width + x];
        boolean edge = (x + 1 < width && ids[y * width + x + 1] != id)
            || (y + 1 < height && ids[(y + 1) * width + x] != id);
        if (edge) {
          image.setRGB(x, y, rgb);
        }
      }
    }
  }

  /** One JSON object for a segment: the {@link Region} fields and the class name. */
  static String segmentJson(Region s, List<ClassInfo> classes, String indent) {
    return Json.object(fields(s, classes), indent);
  }

  private static Map<String, String> fields(Region s, List<ClassInfo> classes) {
    Map<String, String> e = new LinkedHashMap<>();
    e.put("id", Integer.toString(s.id()));
    e.put("class", Integer.toString(s.label()));
    e.put("name", Json.quote(classes.get(s.label()).name()));
    e.put("score", Json.number(s.score()));
    e.put("area", Long.toString(s.area()));
    e.put("bbox", "[" + s.x() + ", " + s.y() + ", " + s.width() + ", " + s.height() + "]");
    e.put("query", Integer.toString(s.query()));
    return e;
  }

  /** The .segments.json document of one image. */
  static String document(String image, int width, int height, RegionRule rule,
      List<Region> segments, List<ClassInfo> classes) {
    StringBuilder list = new StringBuilder("[");
    for (int i = 0; i < segments.size(); i++) {
      list.append(i == 0 ? "\n    " : ",\n    ").append(segmentJson(segments.get(i), classes, "    "));
    }
    list.append(segments.isEmpty() ? "]" : "\n  ]");
    Map<String, String> d = new LinkedHashMap<>();
    d.put("image", Json.quote(image));
    d.put("width", Integer.toString(width));
    d.put("height", Integer.toString(height));
    d.put("object_threshold", Json.number(rule.objectThreshold()));
    d.put("overlap_threshold", Json.number(rule.overlapThreshold()));
    d.put("merge_same_class", Boolean.toString(rule.mergeSameClass()));
    d.put("no_segment_id", "0");
    d.put("segments", list.toString());
    return Json.object(d, "") + "\n";
  }

  /** One line of video's JSON lines: the frame index and its segments. */
  static String line(long frame, List<Region> segments, List<ClassInfo> classes) {
    StringBuilder b = new StringBuilder("{\"frame\": ").append(frame).append(", \"segments\": [");
    for (int i = 0; i < segments.size(); i++) {
      b.append(i == 0 ? "{" : ", {");
      int n = 0;
      for (var e : fields(segments.get(i), classes).entrySet()) {
        b.append(n++ == 0 ? "" : ", ").append(Json.quote(e.getKey())).append(": ").append(e.getValue());
      }
      b.append('}');
    }
    return b.append("]}\n").toString();
  }
}
