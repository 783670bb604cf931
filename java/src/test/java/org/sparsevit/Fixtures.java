package org.sparsevit;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.sparsevit.io.Npy;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.tensor.HostTensor;

/**
 * The shared golden fixtures, beside the clone ({@code ../shared/fixtures}); surefire passes the path as
 * the system property {@code sparsevit.fixtures}. Missing fixtures fail the test (never skip it).
 */
public final class Fixtures {
    private Fixtures() {
    }

    public static Path dir() {
        String p = System.getProperty("sparsevit.fixtures", "../../shared/fixtures");
        Path d = Path.of(p).toAbsolutePath().normalize();
        assertTrue(Files.isDirectory(d), "golden fixtures not found at " + d
                + " (expected ../shared/fixtures beside the repository clone; set -Dsparsevit.fixtures=DIR)");
        return d;
    }

    public static Path file(String subdir, String name) {
        Path f = dir().resolve(subdir).resolve(name);
        assertTrue(Files.isRegularFile(f), "golden fixture missing: " + f);
        return f;
    }

    /** A fixture's .npy array. */
    public static HostTensor npy(String subdir, String name) {
        return Npy.read(file(subdir, name));
    }

    /** A fixture's weights. */
    public static SwinWeights weights(String subdir, String name) {
        return SwinWeights.load(file(subdir, name));
    }
}
