// SPDX-License-Identifier: GPL-2.0
/*
 * ODP faults that block in the mm: the receive buffer's last part is a
 * private mapping of a file served by a FUSE server of this test's own
 * (the kernel's /dev/fuse protocol, linux/fuse.h), which holds its reads
 * while told to.
 *
 * A SEND's copy into an ODP receive buffer misses pages dropped after its
 * lookups (a fault event of the requester QP): the responder holds the
 * receive WQE the SEND claimed, and the event's fault waits for the FUSE
 * server. Moved to the error state meanwhile, the responder completes that
 * receive with a flush error at once, before the receives posted after it
 * (from an SRQ, whose other WQEs stay posted: before its own send queue's
 * flush, ib_drain_qp()'s marker), while the requester's fault is still
 * blocked. Once the server answers, the requester's SEND ends with an
 * error (its responder is gone), and nothing else completes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "trace.h"
#include "verbs.h"

#define MIB		(1UL << 20)
#define PAGE		4096UL
#define LEN		(128 * MIB)	/* the receive buffer */
#define FILE_LEN	(32 * MIB)	/* its last part: the FUSE file */
#define RECV_ID		77
#define ROOT_ID		1
#define FILE_ID		2

static struct ctx c;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "@name: @s" in @buf (160 bytes), for a check's name. */
static const char *what_of(char *buf, const char *name, const char *s)
{
	snprintf(buf, 160, "%s: %s", name, s);
	return buf;
}

/*
 * The FUSE server: one file of FILE_LEN bytes of 0x11, reads held at will.
 * Its replies are sent under lock (from its thread, or release_reads()).
 */
static struct {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	int hold;			/* park FUSE_READs instead of answering */
	int held;			/* parked now */
	long held_pid;			/* the task the last parked one is for */
	double held_since;
	int watchdog;			/* reads it had to answer by itself */
	int stop;
	struct { uint64_t unique; uint32_t size; } parked[64];
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The watchdog's limit: a test that failed to release never hangs. */
#define HOLD_MAX_S	60

static void reply(uint64_t unique, int error, const void *arg, size_t len)
{
	static char buf[sizeof(struct fuse_out_header) + 256 * 1024];
	struct fuse_out_header *out = (struct fuse_out_header *)buf;

	if (len > sizeof(buf) - sizeof(*out))
		len = sizeof(buf) - sizeof(*out);
	out->len = sizeof(*out) + (error ? 0 : len);
	out->error = error;
	out->unique = unique;
	if (!error && len)
		memcpy(out + 1, arg, len);
	if (write(srv.fd, buf, out->len) < 0 && errno != ENOENT)
		fprintf(stderr, "fuse: reply %llu: %s\n",
			(unsigned long long)unique, strerror(errno));
}

static void fill_attr(struct fuse_attr *a, uint64_t id)
{
	memset(a, 0, sizeof(*a));
	a->ino = id;
	a->mode = id == ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0644;
	a->nlink = id == ROOT_ID ? 2 : 1;
	a->size = id == ROOT_ID ? 0 : FILE_LEN;
	a->blocks = a->size / 512;
	a->blksize = PAGE;
}

static void read_reply(uint64_t unique, uint32_t size)
{
	static char data[256 * 1024];

	if (size > sizeof(data))
		size = sizeof(data);
	memset(data, 0x11, size);
	reply(unique, 0, data, size);
}

/* Answer every parked read (srv.lock held): the faults waiting go on. */
static void answer_parked(void)
{
	int i;

	for (i = 0; i < srv.held; i++)
		read_reply(srv.parked[i].unique, srv.parked[i].size);
	srv.held = 0;
}

static void release_reads(void)
{
	pthread_mutex_lock(&srv.lock);
	srv.hold = 0;
	answer_parked();
	pthread_mutex_unlock(&srv.lock);
}

/* One request, srv.lock held. */
static void handle(struct fuse_in_header *in)
{
	void *body = in + 1;

	switch (in->opcode) {
	case FUSE_INIT: {
		struct fuse_init_out o = {
			.major = FUSE_KERNEL_VERSION,
			.minor = FUSE_KERNEL_MINOR_VERSION,
			.max_readahead = 128 * 1024,
			.max_write = 128 * 1024,
			.max_background = 16,
			.congestion_threshold = 12,
		};
		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out o = { .nodeid = FILE_ID, .generation = 1,
					    .entry_valid = 3600,
					    .attr_valid = 3600 };

		if (in->nodeid != ROOT_ID || strcmp(body, "f")) {
			reply(in->unique, -ENOENT, NULL, 0);
			break;
		}
		fill_attr(&o.attr, FILE_ID);
		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { .attr_valid = 3600 };

		fill_attr(&o.attr, in->nodeid);
		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out o = { .fh = 1 };

		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READ: {
		struct fuse_read_in *r = body;

		if (srv.hold && srv.held < 64) {
			srv.parked[srv.held].unique = in->unique;
			srv.parked[srv.held].size = r->size;
			if (!srv.held)
				srv.held_since = now_s();
			srv.held_pid = in->pid;
			srv.held++;
			break;
		}
		read_reply(in->unique, r->size);
		break;
	}
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break;		/* no reply */
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_DESTROY:
		reply(in->unique, 0, NULL, 0);
		break;
	default:
		reply(in->unique, -ENOSYS, NULL, 0);
	}
}

static void *serve(void *arg)
{
	static char buf[FUSE_MIN_READ_BUFFER + 256 * 1024];
	struct pollfd pfd = { .fd = srv.fd, .events = POLLIN };

	(void)arg;
	for (;;) {
		ssize_t n = 0;

		if (poll(&pfd, 1, 1000) > 0)
			n = read(srv.fd, buf, sizeof(buf));
		if (n < 0 && errno != EINTR && errno != EAGAIN &&
		    errno != ENOENT)
			return NULL;	/* ENODEV: unmounted */
		pthread_mutex_lock(&srv.lock);
		if (srv.stop) {
			pthread_mutex_unlock(&srv.lock);
			return NULL;
		}
		if (n >= (ssize_t)sizeof(struct fuse_in_header))
			handle((struct fuse_in_header *)buf);
		/* A test that lost its way: answer, and say so at the end. */
		if (srv.held && now_s() - srv.held_since > HOLD_MAX_S) {
			srv.watchdog += srv.held;
			srv.hold = 0;
			answer_parked();
		}
		pthread_mutex_unlock(&srv.lock);
	}
}

/* The FUSE file system at @dir, served by a thread: 0, or -1 (errno). */
static int fuse_start(const char *dir)
{
	char opts[128];

	srv.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (srv.fd < 0)
		return -1;
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0", srv.fd);
	if (mount("hodptest", dir, "fuse.hodptest", MS_NOSUID | MS_NODEV,
		  opts)) {
		close(srv.fd);
		return -1;
	}
	if (pthread_create(&srv.thread, NULL, serve, NULL)) {
		umount2(dir, MNT_DETACH);
		close(srv.fd);
		return -1;
	}
	return 0;
}

/* Unmount; the server's thread ends within a second even if reads come. */
static void fuse_stop(const char *dir)
{
	release_reads();
	umount2(dir, MNT_DETACH);
	pthread_mutex_lock(&srv.lock);
	srv.stop = 1;
	pthread_mutex_unlock(&srv.lock);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
}

/* The poster: one SEND posted, from a thread of its own. */
struct sender {
	struct ibv_qp *qp;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	int ret;
	long tid;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;

	__atomic_store_n(&s->tid, gettid(), __ATOMIC_RELEASE);
	s->ret = post_send(s->qp, &s->wr);
	return NULL;
}

/* An RC QP whose receives come from @srq (connected by the caller). */
static struct ibv_qp *srq_qp(struct ibv_srq *srq)
{
	struct ibv_qp_init_attr init = {
		.send_cq = c.cq, .recv_cq = c.cq, .srq = srq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_send_sge = 1 },
	};
	struct ibv_qp *q = ibv_create_qp(c.pd, &init);

	check_fatal("create an SRQ's RC QP", q, "%s", strerror(errno));
	return q;
}

/* Up to @max completions on c.cq, each for up to 5 s: how many. */
static int poll_some(struct ibv_wc *wc, int max)
{
	int n = 0;

	while (n < max && poll_one(c.cq, &wc[n]) >= 0)
		n++;
	return n;
}

static int wc_of(const struct ibv_wc *wc, int n, uint64_t id)
{
	int i;

	for (i = 0; i < n; i++)
		if (wc[i].wr_id == id)
			return i;
	return -1;
}

/*
 * The receive buffer: LEN bytes, the first anonymous, the last FILE_LEN a
 * private, writable mapping of the FUSE file (read in, copied on write).
 */
static uint8_t *recv_buffer(const char *path)
{
	uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open(path, O_RDONLY);

	check_fatal("map the receive buffer", p != MAP_FAILED && fd >= 0,
		    "%s", strerror(errno));
	madvise(p, LEN - FILE_LEN, MADV_NOHUGEPAGE);
	check_fatal("map the FUSE file into it",
		    mmap(p + LEN - FILE_LEN, FILE_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED, fd, 0) != MAP_FAILED,
		    "%s", strerror(errno));
	close(fd);
	return p;
}

/* Connect @p again after RESET (both ends): 0, or -1. */
static int reconnect(struct rc_pair *p)
{
	struct ibv_qp_attr rst = { .qp_state = IBV_QPS_RESET };

	return ibv_modify_qp(p->a, &rst, IBV_QP_STATE) ||
	       ibv_modify_qp(p->b, &rst, IBV_QP_STATE) ||
	       rc_connect(&c, p->a, p->b->qp_num, ALL_ACCESS, 7) ||
	       rc_connect(&c, p->b, p->a->qp_num, ALL_ACCESS, 7) ? -1 : 0;
}

/*
 * A SEND's receive WQE held by the responder across a fault event whose
 * fault waits for the FUSE server, and the responder moved to ERR (or
 * RESET, if @reset) meanwhile; its receives from an SRQ if @use_srq.
 */
static void test_held(const char *dir, int use_srq, int reset)
{
	const char *name = use_srq ? reset ? "held SRQ receive, RESET" :
				   "held SRQ receive, ERR" :
			   reset ? "held receive, RESET" : "held receive, ERR";
	char path[256], what[160], want[160];
	struct ibv_srq_init_attr sinit = {
		.attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_qp_attr to = { .qp_state = reset ? IBV_QPS_RESET :
				  IBV_QPS_ERR };
	struct ibv_srq *srq = use_srq ? ibv_create_srq(c.pd, &sinit) : NULL;
	struct rc_pair p = { rc_qp(&c, NULL, c.cq),
			     use_srq ? srq_qp(srq) : rc_qp(&c, NULL, c.cq) };
	uint8_t *src = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *t, *file_part;
	struct ibv_mr *sm, *tm;
	struct ibv_sge rs[3], bs;
	struct ibv_recv_wr rw[3], *bad;
	struct ibv_send_wr bw = { .wr_id = 99, .sg_list = &bs, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct sender s = { .qp = p.a };
	struct ibv_wc wc[4], late[2];
	uint64_t next = use_srq ? 99 : RECV_ID + 1;
	int held, n, nlate, i, started, blocked, fd;
	long held_pid, tid;
	pthread_t th;
	char *trace;
	double t0;

	snprintf(path, sizeof(path), "%s/f", dir);
	t = recv_buffer(path);
	file_part = t + LEN - FILE_LEN;
	check_fatal("source and pair", src != MAP_FAILED &&
		    (!use_srq || srq) &&
		    !rc_connect(&c, p.a, p.b->qp_num, ALL_ACCESS, 7) &&
		    !rc_connect(&c, p.b, p.a->qp_num, ALL_ACCESS, 7),
		    "%s", strerror(errno));
	madvise(src, LEN, MADV_NOHUGEPAGE);
	memset(src, 0x5c, LEN);
	/* Present before registration: the lookups miss nothing. */
	memset(t, 0x22, LEN);
	sm = ibv_reg_mr(c.pd, src, LEN, ALL_ACCESS);
	tm = ibv_reg_mr(c.pd, t, LEN, ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	check_fatal("register", sm && tm, "%s", strerror(errno));
	for (i = 0; i < 3; i++) {
		rs[i] = (struct ibv_sge){ (uintptr_t)t, i ? PAGE : LEN,
					  tm->lkey };
		rw[i] = (struct ibv_recv_wr){ .wr_id = RECV_ID + i,
					      .sg_list = &rs[i],
					      .num_sge = 1,
					      .next = i ? NULL : &rw[1] };
	}
	check_fatal("post the receives",
		    !(use_srq ? ibv_post_srq_recv(srq, rw, &bad) :
		      ibv_post_recv(p.b, rw, &bad)), "%s", strerror(errno));
	/*
	 * SRQ: a send WQE of the responder pending at ERR (an RNR wait: the
	 * requester has no receive), flushed by it.
	 */
	bs = (struct ibv_sge){ (uintptr_t)src, 8, sm->lkey };
	if (use_srq)
		check_fatal("the responder's send", !post_send(p.b, &bw), "%s",
			    strerror(errno));
	/* From now on the file's pages come only when the server says. */
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	pthread_mutex_unlock(&srv.lock);
	check_fatal("trace", !write_str(TRACING "/trace", "") &&
		    !write_str(TRACING "/events/hodp/enable", "1"), "%s",
		    strerror(errno));
	s.sge = (struct ibv_sge){ (uintptr_t)src, LEN, sm->lkey };
	s.wr = (struct ibv_send_wr){ .wr_id = 1, .sg_list = &s.sge,
				     .num_sge = 1, .opcode = IBV_WR_SEND,
				     .send_flags = IBV_SEND_SIGNALED };
	check_fatal("start the poster",
		    !pthread_create(&th, NULL, send_thread, &s), "");
	/* The copy runs: drop the file part, its next fault reads it. */
	t0 = now_s();
	while (*(volatile uint8_t *)t != 0x5c && now_s() - t0 < 10)
		;
	started = *(volatile uint8_t *)t == 0x5c &&
		  *(volatile uint8_t *)file_part == 0x22;
	madvise(file_part, FILE_LEN, MADV_DONTNEED);
	fd = open(path, O_RDONLY);
	check_fatal("drop the file's cached pages",
		    fd >= 0 && !posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED),
		    "%s", strerror(errno));
	close(fd);
	/* The copy's miss: a fault event, its fault waiting for the server. */
	t0 = now_s();
	do {
		pthread_mutex_lock(&srv.lock);
		held = srv.held;
		held_pid = srv.held_pid;
		pthread_mutex_unlock(&srv.lock);
	} while (!held && now_s() - t0 < 20 && !usleep(1000));
	tid = __atomic_load_n(&s.tid, __ATOMIC_ACQUIRE);
	blocked = held && held_pid != getpid() && held_pid != tid;
	/*
	 * Until release_reads(): no allocation, no output, nothing that may
	 * take this process's mmap_lock for writing. The blocked fault holds
	 * it for reading (hmm_range_fault() without FAULT_FLAG_ALLOW_RETRY):
	 * a writer would wait for the server, and so would every fault of
	 * this thread queued behind that writer.
	 */
	n = nlate = 0;
	if (blocked) {
		ibv_modify_qp(p.b, &to, IBV_QP_STATE);
		if (!reset || use_srq)
			n = poll_some(wc, reset ? 1 : 2);
		usleep(200000);
		n += ibv_poll_cq(c.cq, 1, &wc[n]) > 0;
	}
	/*
	 * The server answers: the requester's SEND finds its peer gone (a
	 * poster that faulted in place itself, not through an event, was
	 * blocked until now).
	 */
	release_reads();
	pthread_join(th, NULL);
	nlate = poll_some(late, 1);
	usleep(100000);
	nlate += ibv_poll_cq(c.cq, 1, &late[nlate]) > 0;
	write_str(TRACING "/events/hodp/enable", "0");
	trace = read_trace();
	snprintf(want, sizeof(want),
		 "hodp_odp_fault_event: hodp0 qpn %u lkey 0x%x addr 0x%lx-",
		 p.a->qp_num, tm->lkey, (unsigned long)file_part);
	check(what_of(what, name, "the copy started before the drop"),
	      started, "");
	check(what_of(what, name,
		      "the copy's miss is a fault event, its fault blocked in the FUSE server"),
	      blocked && trace && strstr(trace, want),
	      "reads parked %d (by pid %ld; this process %d, the poster %ld), '%s' %s",
	      held, held_pid, getpid(), tid, want,
	      trace && strstr(trace, want) ? "traced" : "not traced");
	free(trace);
	if (reset) {
		/*
		 * RESET discards what was posted to the QP, the held receive
		 * too; an SRQ's WQE it took is the SRQ's: it completes.
		 */
		check(what_of(what, name, use_srq ?
			      "the SRQ's WQE held completes with a flush error at once, nothing else" :
			      "the held receive is discarded with the rest, no completion"),
		      blocked && (use_srq ? n == 1 && wc[0].wr_id == RECV_ID &&
				  wc[0].status == IBV_WC_WR_FLUSH_ERR : !n),
		      "%d completions, the first %llu: %s", n,
		      n ? (unsigned long long)wc[0].wr_id : 0ULL,
		      n ? ibv_wc_status_str(wc[0].status) : "-");
	} else {
		int r1 = -1, after = -1;

		for (i = 0; i < n; i++) {
			if (wc[i].wr_id == RECV_ID)
				r1 = i;
			else if (wc[i].wr_id == next)
				after = i;
		}
		check(what_of(what, name,
			      "it completes with a flush error while the fault is blocked"),
		      blocked && r1 >= 0 &&
		      wc[r1].status == IBV_WC_WR_FLUSH_ERR && n == 2,
		      "%d completions, the held one's %s", n,
		      r1 >= 0 ? ibv_wc_status_str(wc[r1].status) : "missing");
		check(what_of(what, name, use_srq ?
			      "before the responder's send queue's flush" :
			      "before the receive posted after it"),
		      r1 == 0 && after == 1 &&
		      wc[1].status == IBV_WC_WR_FLUSH_ERR,
		      "completions in order: %llu, %llu",
		      n > 0 ? (unsigned long long)wc[0].wr_id : 0ULL,
		      n > 1 ? (unsigned long long)wc[1].wr_id : 0ULL);
	}
	check(what_of(what, name,
		      "once the server answers, the SEND ends with an error, nothing else"),
	      nlate == 1 && late[0].wr_id == 1 &&
	      late[0].status != IBV_WC_SUCCESS && !s.ret,
	      "%d completions (the first %llu: %s), post %d", nlate,
	      nlate ? (unsigned long long)late[0].wr_id : 0ULL,
	      nlate ? ibv_wc_status_str(late[0].status) : "-", s.ret);
	if (reset) {
		/*
		 * Connected again, a short SEND takes the next receive posted
		 * (the RQ's third, the SRQ's second): not the one RESET let go.
		 */
		uint64_t want_id = use_srq ? RECV_ID + 1 : RECV_ID + 2;
		struct ibv_send_wr sw = bw;
		int ok = !reconnect(&p) &&
			 (use_srq || !ibv_post_recv(p.b, &rw[2], &bad));

		sw.wr_id = 2;
		n = 0;
		if (ok && !post_send(p.a, &sw))
			n = poll_some(wc, 2);
		i = wc_of(wc, n, want_id);
		check(what_of(what, name,
			      "connected again, the next message takes the next receive"),
		      ok && n == 2 && i >= 0 && wc[i].status == IBV_WC_SUCCESS &&
		      wc[i].byte_len == 8 && wc_of(wc, n, 2) >= 0 &&
		      wc[wc_of(wc, n, 2)].status == IBV_WC_SUCCESS,
		      "%d completions: %llu %s, %llu %s", n,
		      n > 0 ? (unsigned long long)wc[0].wr_id : 0ULL,
		      n > 0 ? ibv_wc_status_str(wc[0].status) : "-",
		      n > 1 ? (unsigned long long)wc[1].wr_id : 0ULL,
		      n > 1 ? ibv_wc_status_str(wc[1].status) : "-");
	}
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	if (srq)
		ibv_destroy_srq(srq);
	while (ibv_poll_cq(c.cq, 1, wc) > 0)
		;
	ibv_dereg_mr(tm);
	ibv_dereg_mr(sm);
	munmap(t, LEN);
	munmap(src, LEN);
}

/* The mount, for an exit on the way (check_fatal()). */
static char mnt[] = "/tmp/hodp-fuse-XXXXXX";

static void unmount_at_exit(void)
{
	umount2(mnt, MNT_DETACH);
}

int main(void)
{
	int kmsg = kmsg_open();

	/* No khugepaged writer on this mm while a fault holds it (above). */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	if (access("/dev/fuse", F_OK) && system("modprobe fuse 2>/dev/null"))
		errno = ENOENT;
	if (access("/dev/fuse", F_OK)) {
		skip("FUSE", "no /dev/fuse: %s (the kernel has no FUSE)",
		     strerror(errno));
		return check_done();
	}
	check_fatal("FUSE mount", mkdtemp(mnt) && !fuse_start(mnt), "%s",
		    strerror(errno));
	atexit(unmount_at_exit);
	trace_mount();
	open_dev(&c, "hodp0");
	test_held(mnt, 0, 0);
	test_held(mnt, 1, 0);
	test_held(mnt, 0, 1);
	test_held(mnt, 1, 1);
	check("the FUSE server's watchdog answered no read itself",
	      !srv.watchdog, "%d reads held over %d s", srv.watchdog,
	      HOLD_MAX_S);
	fuse_stop(mnt);
	rmdir(mnt);
	kmsg_check(kmsg, "the kernel logged no bug");
	return check_done();
}
