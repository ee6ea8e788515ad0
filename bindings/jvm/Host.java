// A JVM host of the C API, the shape an Android app takes: Java 17 and JNA (no glue code, no
// JNI shim). It serves, on 127.0.0.1 only, a Git raw host and a CDN (`/git/…`, `/cdn/…`) and the
// control plane's read and push endpoints (`/v1/configs/marketplace_source` and its SSE
// `/events`), then loads libsourcegate_ffi, resolves and fetches from Git, pushes a flip to the
// CDN over SSE, waits for the config callback, resolves and fetches from the CDN, pauses (the
// push stream closes, no config request while paused although the config changed) and resumes
// (one revalidation, the change seen by the callback), waits for readiness, closes (a fetch is
// then refused with SG_STATUS_CLOSED) and frees.
// Any failed check exits 1 with a message.
//
//   java -cp /usr/share/java/jna.jar bindings/jvm/Host.java /path/to/libsourcegate_ffi.so
//
// Run by bindings/jvm/run-tests.sh (part of the README's test command).

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.ByteByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public class Host {
    /** The C functions used here, as declared in ffi/include/sourcegate.h. */
    public interface Sg extends Library {
        String sg_version();
        String sg_last_error_message();
        String sg_status_name(int status);
        int sg_resolver_new(String optionsJson, PointerByReference out);
        void sg_resolver_free(Pointer resolver);
        int sg_resolver_resolve(Pointer resolver, String path, byte[] urlBuf, long urlBufLen, Resolution out);
        int sg_resolver_fetch(Pointer resolver, String path, FetchResult out);
        void sg_bytes_free(Pointer body, long len);
        int sg_resolver_on_config_change(Pointer resolver, ConfigCallback cb, Pointer userdata, LongByReference id);
        int sg_resolver_remove_config_callback(Pointer resolver, long id);
        int sg_resolver_pause(Pointer resolver);
        int sg_resolver_resume(Pointer resolver);
        int sg_resolver_wait_ready(Pointer resolver, long timeoutMs, ByteByReference readyOut);
        int sg_resolver_close(Pointer resolver);
    }

    /** sg_resolution. */
    @Structure.FieldOrder({"origin", "reason", "failover_from", "unavailable", "bucket", "threshold_bp", "config_version", "url_len"})
    public static class Resolution extends Structure {
        public int origin, reason, failover_from, unavailable, bucket, threshold_bp;
        public long config_version;
        public long url_len;
    }

    /** sg_fetch_result (bool is one byte in C). */
    @Structure.FieldOrder({"body", "body_len", "origin", "reason", "http_status", "fallback", "failed_attempts", "source"})
    public static class FetchResult extends Structure {
        public Pointer body;
        public long body_len;
        public int origin, reason;
        public short http_status;
        public byte fallback;
        public int failed_attempts;
        public int source;
    }

    /** sg_config_callback; the event is read by offset (version is its first field). */
    public interface ConfigCallback extends Callback {
        void invoke(Pointer userdata, Pointer event);
    }

    static final int SG_OK = 0, SG_ORIGIN_GIT = 1, SG_ORIGIN_CDN = 2;
    static final String REGISTRY = "[{\"id\":\"obsidian-git\",\"name\":\"Git\",\"author\":\"Vinzent\","
        + "\"description\":\"Git integration\",\"repo\":\"Vinzent03/obsidian-git\"},"
        + "{\"id\":\"dataview\",\"name\":\"Dataview\",\"author\":\"Michael Brenan\","
        + "\"description\":\"Queries\",\"repo\":\"blacksmithgu/obsidian-dataview\"}]";

    static volatile String current;
    static volatile int currentVersion;
    static final List<BlockingQueue<String>> streams = new CopyOnWriteArrayList<>();
    static final AtomicInteger gitHits = new AtomicInteger(), cdnHits = new AtomicInteger();
    /** `GET /v1/configs/marketplace_source` requests (not the stream). */
    static final AtomicInteger configGets = new AtomicInteger();
    static final int SG_STATUS_CLOSED = 108;

    /** Waits up to 10 s for the config callback to report `version`. */
    static boolean awaitVersion(BlockingQueue<Long> versions, long version) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            Long v = versions.poll(100, TimeUnit.MILLISECONDS);
            if (v != null && v == version) {
                return true;
            }
        }
        return false;
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("jvm host: FAILED: " + what);
            System.exit(1);
        }
    }

    static String envelope(String base, int version, String type) {
        String doc = "{\"type\":\"" + type + "\",\"priority\":[\"" + (type.equals("git") ? "git" : "cloudflare")
            + "\"],\"gitUrl\":\"" + base + "/git/\",\"cloudflareUrl\":\"" + base + "/cdn/\","
            + "\"healthCheckEnabled\":false,\"fallbackOnError\":true,\"version\":" + version + "}";
        return "{\"key\":\"marketplace_source\",\"version\":" + version + ",\"value\":" + doc
            + ",\"updatedAt\":\"2026-12-03T00:00:00Z\",\"updatedBy\":null}";
    }

    static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("content-type", type);
        ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    static String frame(int version, String data) {
        return "id: " + version + "\nevent: config\ndata: " + data + "\n\n";
    }

    public static void main(String[] args) throws Exception {
        check(args.length == 1, "usage: Host.java /path/to/libsourcegate_ffi.so");
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newCachedThreadPool());
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        current = envelope(base, 1, "git");
        currentVersion = 1;
        server.createContext("/git/community-plugins.json", ex -> {
            gitHits.incrementAndGet();
            send(ex, 200, "application/json", REGISTRY);
        });
        server.createContext("/cdn/community-plugins.json", ex -> {
            cdnHits.incrementAndGet();
            send(ex, 200, "application/json", REGISTRY);
        });
        server.createContext("/v1/configs/marketplace_source", ex -> {
            String path = ex.getRequestURI().getPath();
            if (path.equals("/v1/configs/marketplace_source/events")) {
                BlockingQueue<String> q = new LinkedBlockingQueue<>();
                q.add(frame(currentVersion, current));
                streams.add(q);
                ex.getResponseHeaders().set("content-type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                try (OutputStream os = ex.getResponseBody()) {
                    while (true) {
                        String f = q.poll(1, TimeUnit.SECONDS);
                        os.write((f == null ? ":\n\n" : f).getBytes(StandardCharsets.UTF_8));
                        os.flush();
                    }
                } catch (IOException | InterruptedException e) {
                    streams.remove(q);
                }
                return;
            }
            configGets.incrementAndGet();
            String etag = "\"" + currentVersion + "\"";
            ex.getResponseHeaders().set("etag", etag);
            if (etag.equals(ex.getRequestHeaders().getFirst("if-none-match"))) {
                ex.sendResponseHeaders(304, -1);
                ex.close();
                return;
            }
            send(ex, 200, "application/json", current);
        });
        server.start();

        Sg sg = Native.load(args[0], Sg.class);
        check(sg.sg_version().matches("\\d+\\.\\d+\\.\\d+.*"), "sg_version: " + sg.sg_version());

        // A refused options document: a status and a message, no handle.
        PointerByReference out = new PointerByReference();
        int st = sg.sg_resolver_new("{not json", out);
        check(st != SG_OK, "bad options accepted");
        check(sg.sg_last_error_message().contains("invalid options JSON"), "message: " + sg.sg_last_error_message());

        String options = "{\"controlPlaneUrl\":\"" + base + "\",\"push\":true,\"healthChecks\":false,"
            + "\"telemetry\":{\"enabled\":false},\"initTimeoutMs\":5000,\"installId\":\"jvm-host\"}";
        st = sg.sg_resolver_new(options, out);
        check(st == SG_OK, "sg_resolver_new: " + sg.sg_status_name(st) + ": " + sg.sg_last_error_message());
        Pointer r = out.getValue();

        BlockingQueue<Long> versions = new LinkedBlockingQueue<>();
        ConfigCallback cb = (userdata, event) -> versions.add(event.getLong(0));
        LongByReference id = new LongByReference();
        check(sg.sg_resolver_on_config_change(r, cb, null, id) == SG_OK, "sg_resolver_on_config_change");

        byte[] buf = new byte[512];
        Resolution res = new Resolution();
        st = sg.sg_resolver_resolve(r, "community-plugins.json", buf, buf.length, res);
        check(st == SG_OK, "resolve: " + sg.sg_last_error_message());
        String url = new String(buf, 0, (int) res.url_len, StandardCharsets.UTF_8);
        check(res.origin == SG_ORIGIN_GIT && url.equals(base + "/git/community-plugins.json"), "resolved to " + url);
        check(res.config_version == 1, "config version " + res.config_version);

        FetchResult fr = new FetchResult();
        st = sg.sg_resolver_fetch(r, "community-plugins.json", fr);
        check(st == SG_OK, "fetch: " + sg.sg_last_error_message());
        String body = new String(fr.body.getByteArray(0, (int) fr.body_len), StandardCharsets.UTF_8);
        check(body.equals(REGISTRY) && fr.origin == SG_ORIGIN_GIT && fr.http_status == 200, "fetch from Git");
        sg.sg_bytes_free(fr.body, fr.body_len);

        // The flip, pushed over SSE.
        long flipped = System.nanoTime();
        current = envelope(base, 2, "cloudflare");
        currentVersion = 2;
        for (BlockingQueue<String> q : streams) {
            q.add(frame(2, current));
        }
        Long seen = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            Long v = versions.poll(100, TimeUnit.MILLISECONDS);
            if (v != null && v == 2) {
                seen = v;
                break;
            }
        }
        check(seen != null, "no config callback for version 2 within 10 s (streams: " + streams.size() + ")");
        long flipMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - flipped);

        st = sg.sg_resolver_resolve(r, "community-plugins.json", buf, buf.length, res);
        url = new String(buf, 0, (int) res.url_len, StandardCharsets.UTF_8);
        check(st == SG_OK && res.origin == SG_ORIGIN_CDN && url.equals(base + "/cdn/community-plugins.json"), "after the flip: " + url);
        int gitBefore = gitHits.get();
        fr = new FetchResult();
        st = sg.sg_resolver_fetch(r, "community-plugins.json", fr);
        check(st == SG_OK && fr.origin == SG_ORIGIN_CDN, "fetch after the flip: " + sg.sg_last_error_message());
        body = new String(fr.body.getByteArray(0, (int) fr.body_len), StandardCharsets.UTF_8);
        check(body.equals(REGISTRY), "CDN body");
        sg.sg_bytes_free(fr.body, fr.body_len);
        check(gitHits.get() == gitBefore && cdnHits.get() >= 1, "git hits " + gitHits.get() + ", cdn hits " + cdnHits.get());

        // Paused (the app in the background): the push stream closes, and a change made now is
        // not fetched; resuming revalidates at once (one config request) and the callback sees it.
        check(sg.sg_resolver_pause(r) == SG_OK, "pause: " + sg.sg_last_error_message());
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!streams.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        check(streams.isEmpty(), "the push stream is still open while paused");
        int getsPaused = configGets.get();
        current = envelope(base, 3, "git");
        currentVersion = 3;
        Thread.sleep(300);
        st = sg.sg_resolver_resolve(r, "community-plugins.json", buf, buf.length, res);
        check(st == SG_OK && res.config_version == 2, "paused: config version " + res.config_version);
        check(configGets.get() == getsPaused, "config request while paused");
        check(sg.sg_resolver_resume(r) == SG_OK, "resume: " + sg.sg_last_error_message());
        check(awaitVersion(versions, 3), "no config callback for version 3 within 10 s of resume");
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (configGets.get() == getsPaused && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        check(configGets.get() == getsPaused + 1, "config requests after resume: " + (configGets.get() - getsPaused));
        ByteByReference ready = new ByteByReference();
        check(sg.sg_resolver_wait_ready(r, 1000, ready) == SG_OK && ready.getValue() != 0, "wait_ready");

        // Closed: resolve still answers from the config held; fetch is refused.
        check(sg.sg_resolver_close(r) == SG_OK, "close: " + sg.sg_last_error_message());
        st = sg.sg_resolver_resolve(r, "community-plugins.json", buf, buf.length, res);
        check(st == SG_OK && res.config_version == 3, "resolve after close: " + sg.sg_status_name(st));
        fr = new FetchResult();
        st = sg.sg_resolver_fetch(r, "community-plugins.json", fr);
        check(st == SG_STATUS_CLOSED, "fetch after close: " + sg.sg_status_name(st));

        check(sg.sg_resolver_remove_config_callback(r, id.getValue()) == SG_OK, "remove callback");
        sg.sg_resolver_free(r);
        server.stop(0);
        System.out.println("jvm host: ok (library " + sg.sg_version() + "; Git then CDN; flip seen by the callback in "
            + flipMs + " ms; paused, resumed with one revalidation, closed)");
        System.exit(0);
    }
}
