// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * One segment of a frame: the pixels whose value in the segment-id map is {@code id}.
 *
 * @param id 1.. as in the segment-id map (0 there means "no segment")
 * @param label the class, 0..K-1
 * @param score mean over the segment's pixels of the owning query's class probability x its mask
 *     probability; for a segment of one query: class probability x mean mask probability inside
 *     the segment
 * @param area pixels
 * @param x first column of the bounding box
 * @param y first row of the bounding box
 * @param width bounding box width
 * @param height bounding box height
 * @param query the (first) query of the model that made the segment
 */
public record Segment(
    int id, int label, float score, long area, int x, int y, int width, int height, int query) {}
