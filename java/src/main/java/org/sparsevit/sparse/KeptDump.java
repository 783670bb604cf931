package org.sparsevit.sparse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.model.KeptListener;

/**
 * Collects the kept windows of every block of a forward pass and writes them in the format of the
 * official fixtures' kept.json (stage, hw, padded_hw, grid_nWh_nWw, nW, blocks[] with block, shifted,
 * ratio, pruned, k, kept, and selection_computed_here / window_scores where a list was built).
 */
public final class KeptDump implements KeptListener {
    private final List<BlockRecord> records = new ArrayList<>();
    private final int windowSize;
    private final int batch;

    public KeptDump(int windowSize, int batch) {
        this.windowSize = windowSize;
        this.batch = batch;
    }

    @Override
    public synchronized void onBlock(BlockRecord r) {
        records.add(r);
    }

    public synchronized List<BlockRecord> records() {
        return List.copyOf(records);
    }

    public synchronized ObjectNode toJson() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("window_size", windowSize);
        root.put("batch", batch);
        ArrayNode stages = root.putArray("stages");
        ObjectNode stage = null;
        int current = -1;
        for (BlockRecord r : records) {
            if (r.stage() != current) {
                current = r.stage();
                WindowGrid g = r.grid();
                stage = stages.addObject();
                stage.put("stage", r.stage());
                stage.putArray("hw").add(g.height()).add(g.width());
                stage.putArray("padded_hw").add(g.paddedHeight()).add(g.paddedWidth());
                stage.putArray("grid_nWh_nWw").add(g.windowRows()).add(g.windowCols());
                stage.put("nW", g.numWindows());
                stage.putArray("blocks");
            }
            ObjectNode b = ((ArrayNode) stage.get("blocks")).addObject();
            b.put("block", r.block());
            b.put("shifted", r.grid().shifted() || r.block() % 2 == 1);
            b.put("ratio", r.ratio());
            b.put("pruned", r.pruned());
            b.put("k", r.k());
            if (r.kept() == null) {
                b.putNull("kept");
            } else {
                ArrayNode kept = b.putArray("kept");
                for (int[] img : r.kept()) {
                    ArrayNode a = kept.addArray();
                    for (int w : img) {
                        a.add(w);
                    }
                }
                b.put("selection_computed_here", r.builtHere());
                if (r.builtHere() && r.windowScores() != null) {
                    ArrayNode sc = b.putArray("window_scores");
                    for (float[] img : r.windowScores()) {
                        ArrayNode a = sc.addArray();
                        for (float v : img) {
                            a.add((double) v);
                        }
                    }
                }
            }
        }
        return root;
    }

    public void write(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), toJson());
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot write kept windows (" + e.getMessage() + ")", e);
        }
    }
}
