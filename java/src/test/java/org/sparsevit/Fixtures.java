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

    /**
     * A golden file of the test resources (made by bench/peers/make_*_fixture.py), as a file: the resource itself
     * when the tests run from classes, a temporary copy when they run from the test jar (the GPU bundle).
     */
    public static Path resource(String dir, String name) {
        return RESOURCES.computeIfAbsent("/" + dir + "/" + name, r -> resourceFile(dir, name, r));
    }

    /** One copy per resource for the JVM (a test may name the same file twice). */
    private static final java.util.Map<String, Path> RESOURCES = new java.util.concurrent.ConcurrentHashMap<>();

    private static Path resourceFile(String dir, String name, String r) {
        java.net.URL url = Fixtures.class.getResource(r);
        assertTrue(url != null, "test resource " + r + " missing");
        try {
            if ("file".equals(url.getProtocol())) {
                return Path.of(url.toURI());
            }
            Path tmp = Files.createTempFile("svj-" + dir + "-", "-" + name);
            tmp.toFile().deleteOnExit();
            try (java.io.InputStream in = url.openStream()) {
                Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return tmp;
        } catch (java.io.IOException | java.net.URISyntaxException e) {
            throw new AssertionError("test resource " + r + " cannot be read: " + e, e);
        }
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
