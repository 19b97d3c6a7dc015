/* SPDX-License-Identifier: MIT */
/* A Node.js N-API addon (node_api.h, built with gcc) whose native objects a script can free
 * while work on them is still pending. node_faults.js drives it; each function a report must
 * name is marked NOINLINE and does work after its last library call (no tail call).
 *
 * Sessions: sessionOpen(n) -> external; sessionChecksum(s, cb) queues napi_async_work whose
 *   execute (a worker thread) sums the session's bytes in session_checksum; sessionClose(s)
 *   frees the session at once (session_close), whatever is pending.
 * Watches: watchStart(cb) -> external; the registration's async work completes on the main
 *   thread in watch_complete, which reads the registration to find the callback;
 *   watchCancel(w) frees the registration (watch_cancel).
 * Codecs: new Codec(name) wraps a native codec (codec_create) whose finalizer frees it
 *   (codec_finalize); codec.encode(s) remembers the codec as the last one used, in a raw
 *   pointer; lastCodecName() reads through that pointer (codec_last_name).
 * release(): lets queued work run. Every queued work's execute waits for it, so a script
 *   decides, without any timing, whether the work runs before or after a close.
 * finalized(): how many codecs the finalizer has freed.
 */
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "lg_addon: " #call " failed");          \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

/* ---- the gate that queued work waits for ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void wait_for_release(void) {
  pthread_mutex_lock(&gate_lock);
  while (!gate_open) pthread_cond_wait(&gate_changed, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
}

static napi_value release(napi_env env, napi_callback_info info) {
  pthread_mutex_lock(&gate_lock);
  gate_open = 1;
  pthread_cond_broadcast(&gate_changed);
  pthread_mutex_unlock(&gate_lock);
  return NULL;
}

/* ---- sessions: async work reading a native object ---- */

struct session {
  size_t len;
  unsigned char bytes[240];
};

struct checksum_work {
  struct session *session;
  napi_async_work work;
  napi_ref callback;
  unsigned long sum;
};

static int sessions_open;

NOINLINE struct session *session_open(size_t len) {
  struct session *s = malloc(sizeof *s);
  if (!s) return NULL;
  s->len = len < sizeof s->bytes ? len : sizeof s->bytes;
  for (size_t i = 0; i < s->len; i++) s->bytes[i] = (unsigned char)(i * 13 + 5);
  sessions_open++;
  return s;
}

NOINLINE void session_close(struct session *s) {
  free(s);
  sessions_open--;
}

NOINLINE unsigned long session_checksum(const struct session *s) {
  unsigned long sum = 0;
  for (size_t i = 0; i < s->len; i++) sum = sum * 31 + s->bytes[i];
  return sum;
}

static void checksum_execute(napi_env env, void *data) {
  struct checksum_work *w = data;
  wait_for_release();
  w->sum = session_checksum(w->session);
}

static void checksum_complete(napi_env env, napi_status status, void *data) {
  struct checksum_work *w = data;
  napi_value cb, global, arg;
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &global);
  napi_create_double(env, (double)(w->sum % 1000003), &arg);
  napi_call_function(env, global, cb, 1, &arg, NULL);
  napi_delete_reference(env, w->callback);
  napi_delete_async_work(env, w->work);
  free(w);
}

static struct session *session_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  return p;
}

static napi_value js_session_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  uint32_t len = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &len) != napi_ok) len = 64;
  struct session *s = session_open(len);
  CHECK(napi_create_external(env, s, NULL, NULL, &out));
  return out;
}

static napi_value js_session_checksum(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct checksum_work *w = calloc(1, sizeof *w);
  w->session = session_arg(env, argv[0]);
  CHECK(napi_create_reference(env, argv[1], 1, &w->callback));
  CHECK(napi_create_string_utf8(env, "lg_addon.checksum", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, checksum_execute, checksum_complete, w, &w->work));
  CHECK(napi_queue_async_work(env, w->work));
  return NULL;
}

static napi_value js_session_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_close(session_arg(env, argv[0]));
  return NULL;
}

/* ---- watches: a completion delivered to a registration ---- */

struct watch {
  char label[32];
  napi_ref callback;
  napi_async_work work;
  int fired;
};

static int watches_live;

NOINLINE struct watch *watch_start(void) {
  struct watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  snprintf(w->label, sizeof w->label, "watch %d", ++watches_live);
  return w;
}

NOINLINE void watch_cancel(napi_env env, struct watch *w) {
  napi_delete_reference(env, w->callback);
  free(w);
  watches_live--;
}

static void watch_execute(napi_env env, void *data) { wait_for_release(); }

NOINLINE void watch_complete(napi_env env, napi_status status, void *data) {
  struct watch *w = data;
  napi_value cb, global, arg;
  w->fired++;
  if (napi_get_reference_value(env, w->callback, &cb) != napi_ok || !cb) return;
  napi_get_global(env, &global);
  napi_create_string_utf8(env, w->label, NAPI_AUTO_LENGTH, &arg);
  napi_delete_async_work(env, w->work);
  w->work = NULL;
  /* the callback may cancel the watch (free w): nothing of w is touched after it */
  napi_call_function(env, global, cb, 1, &arg, NULL);
}

static napi_value js_watch_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name, out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct watch *w = watch_start();
  CHECK(napi_create_reference(env, argv[0], 1, &w->callback));
  CHECK(napi_create_string_utf8(env, "lg_addon.watch", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, watch_execute, watch_complete, w, &w->work));
  CHECK(napi_queue_async_work(env, w->work));
  CHECK(napi_create_external(env, w, NULL, NULL, &out));
  return out;
}

static napi_value js_watch_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  watch_cancel(env, p);
  return NULL;
}

/* ---- codecs: a finalizer frees what a raw pointer still names ---- */

struct codec {
  char name[48];
  unsigned long used;
};

static struct codec *last_used;
static int codecs_finalized;

NOINLINE struct codec *codec_create(const char *name) {
  struct codec *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  snprintf(c->name, sizeof c->name, "%s", name);
  return c;
}

NOINLINE void codec_finalize(napi_env env, void *data, void *hint) {
  free(data);
  codecs_finalized++;
}

NOINLINE size_t codec_last_name(char *out, size_t size) {
  if (!last_used) return 0;
  size_t n = strnlen(last_used->name, sizeof last_used->name);
  if (n >= size) n = size - 1;
  memcpy(out, last_used->name, n);
  out[n] = 0;
  return n + last_used->used;
}

static napi_value js_codec_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  char name[48] = "";
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc >= 1) napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len);
  struct codec *c = codec_create(name);
  CHECK(napi_wrap(env, self, c, codec_finalize, NULL, NULL));
  return self;
}

static napi_value js_codec_encode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self, out;
  void *p = NULL;
  char text[128] = "";
  size_t len = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  CHECK(napi_unwrap(env, self, &p));
  struct codec *c = p;
  if (argc >= 1) napi_get_value_string_utf8(env, argv[0], text, sizeof text, &len);
  for (size_t i = 0; i < len; i++) text[i] = (char)(text[i] ^ 0x20);
  c->used++;
  last_used = c;
  CHECK(napi_create_string_utf8(env, text, len, &out));
  return out;
}

static napi_value js_last_codec_name(napi_env env, napi_callback_info info) {
  char name[48];
  napi_value out;
  if (codec_last_name(name, sizeof name) == 0) name[0] = 0;
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value js_finalized(napi_env env, napi_callback_info info) {
  napi_value out;
  CHECK(napi_create_int32(env, codecs_finalized, &out));
  return out;
}

/* ---- the module ---- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"sessionOpen", NULL, js_session_open, NULL, NULL, NULL, napi_default, NULL},
      {"sessionChecksum", NULL, js_session_checksum, NULL, NULL, NULL, napi_default, NULL},
      {"sessionClose", NULL, js_session_close, NULL, NULL, NULL, napi_default, NULL},
      {"watchStart", NULL, js_watch_start, NULL, NULL, NULL, napi_default, NULL},
      {"watchCancel", NULL, js_watch_cancel, NULL, NULL, NULL, napi_default, NULL},
      {"lastCodecName", NULL, js_last_codec_name, NULL, NULL, NULL, napi_default, NULL},
      {"finalized", NULL, js_finalized, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  napi_property_descriptor methods[] = {
      {"encode", NULL, js_codec_encode, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value codec;
  napi_define_class(env, "Codec", NAPI_AUTO_LENGTH, js_codec_new, NULL, 1, methods, &codec);
  napi_set_named_property(env, exports, "Codec", codec);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
