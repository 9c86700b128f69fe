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
 * blocked. Destroyed meanwhile, an SRQ's responder completes the SRQ's
 * WQE it held with a flush error, as RESET does. Once the server answers,
 * the requester's SEND ends with an error (its responder is gone), and
 * nothing else completes. The requester itself, reset meanwhile, returns
 * from RESET at once; so does a peer process's requester whose READ of
 * this process's FUSE part blocked, which then READs elsewhere and exits,
 * none of it waiting for the server. And a process that is its own FUSE
 * server exits while its fault event, or its asynchronous prefetch, waits
 * for that server (its MR's deregistration at the exit waits for neither).
 * While four such processes' asynchronous prefetches (64 each, a
 * process's most; 256 in all, as many as a workqueue runs at once) wait
 * in their servers, this process's cold ODP RDMA WRITE completes: no
 * QP's work waits behind them. So it does while 4 processes' 64 QPs
 * each fault pages their servers first fail to read, then hold; while 16
 * processes' 16 WRITEs each wait in their servers (file crowd); and while
 * 16 processes' 16 events each find their mmap lock wanted by a writer
 * waiting behind a held fault of a file (lock crowd).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glob.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "tasks.h"
#include "trace.h"
#include "verbs.h"

#define MIB		(1UL << 20)
#define PAGE		4096UL
#define LEN		(128 * MIB)	/* the receive buffer */
#define FILE_LEN	(32 * MIB)	/* its last part: the FUSE file */
#define RECV_ID		77
#define ROOT_ID		1
#define FILE_ID		2
#define BAD_ID		3	/* "bad": every read of it fails */

static struct ctx c;

/* "@name: @s" in @buf (160 bytes), for a check's name. */
static const char *what_of(char *buf, const char *name, const char *s)
{
	snprintf(buf, 160, "%s: %s", name, s);
	return buf;
}

/*
 * The FUSE server: one file of FILE_LEN bytes of 0x11, reads held at will,
 * and one as long whose every read fails (-EIO).
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
	int no_watchdog;		/* a crowd's child: its exit ends all */
	int fail_first;			/* fail each page's first read (EIO) */
	int failed;			/* ... how many so far */
	uint8_t read_once[FILE_LEN / PAGE / 8];	/* pages read or failed */
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

		if (in->nodeid == ROOT_ID && !strcmp(body, "bad"))
			o.nodeid = BAD_ID;
		else if (in->nodeid != ROOT_ID || strcmp(body, "f")) {
			reply(in->unique, -ENOENT, NULL, 0);
			break;
		}
		fill_attr(&o.attr, o.nodeid);
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
		uint64_t pg = r->offset / PAGE;

		if (in->nodeid == BAD_ID) {
			reply(in->unique, -EIO, NULL, 0);
			break;
		}
		if (srv.fail_first && pg < FILE_LEN / PAGE &&
		    !(srv.read_once[pg / 8] & 1 << pg % 8)) {
			srv.read_once[pg / 8] |= 1 << pg % 8;
			srv.failed++;
			reply(in->unique, -EIO, NULL, 0);
			break;
		}
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
		if (srv.held && !srv.no_watchdog &&
		    now_s() - srv.held_since > HOLD_MAX_S) {
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

	/* Non-blocking: a request withdrawn after poll() cannot stall us. */
	srv.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
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

/* Up to @max completions on c.cq, each for up to 5 s: how many. */
static int poll_some(struct ibv_wc *wc, int max)
{
	int n = 0;

	while (n < max && poll_one(c.cq, &wc[n]) >= 0)
		n++;
	return n;
}

/* The next completion on c.cq within @s seconds into *@wc: 1, or 0. */
static int completion_within(struct ibv_wc *wc, double s)
{
	double t0 = now_s();

	do {
		if (ibv_poll_cq(c.cq, 1, wc) == 1)
			return 1;
		usleep(1000);
	} while (now_s() - t0 < s);
	return 0;
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
 * One case: a 128 MiB SEND from a pinned source into an ODP receive
 * buffer whose last 32 MiB are the FUSE file's, its receives from an SRQ
 * if use_srq.
 */
struct held {
	const char *name;
	int use_srq;
	struct ibv_srq *srq;
	struct rc_pair p;
	uint8_t *src, *t, *file_part;
	struct ibv_mr *sm, *tm;
	struct ibv_sge rs[3], bs;
	struct ibv_recv_wr rw[3];
	struct ibv_send_wr bw;		/* a short SEND, wr_id 99 */
	struct long_post s;		/* the SEND, posted from a thread */
	pthread_t th;
	int started, held, blocked;
	long held_pid, tid;
};

/*
 * Post the SEND; once its copy started, drop the file part (mapping and
 * cached pages), so that the copy misses it: h->blocked if the miss's
 * fault now waits for the server, by another task than the poster (a
 * fault event's worker).
 */
static void held_start(struct held *h, const char *dir)
{
	struct ibv_srq_init_attr sinit = {
		.attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_recv_wr *bad;
	char path[256];
	double t0;
	int i, fd;

	snprintf(path, sizeof(path), "%s/f", dir);
	h->srq = h->use_srq ? ibv_create_srq(c.pd, &sinit) : NULL;
	h->p = (struct rc_pair){ rc_qp(&c, NULL, c.cq),
				 h->use_srq ? rc_srq_qp(&c, h->srq) :
				 rc_qp(&c, NULL, c.cq) };
	h->src = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	h->t = recv_buffer(path);
	h->file_part = h->t + LEN - FILE_LEN;
	check_fatal("source and pair", h->src != MAP_FAILED &&
		    (!h->use_srq || h->srq) &&
		    !rc_connect(&c, h->p.a, h->p.b->qp_num, ALL_ACCESS, 7) &&
		    !rc_connect(&c, h->p.b, h->p.a->qp_num, ALL_ACCESS, 7),
		    "%s", strerror(errno));
	madvise(h->src, LEN, MADV_NOHUGEPAGE);
	memset(h->src, 0x5c, LEN);
	/* Present before registration: the lookups miss nothing. */
	memset(h->t, 0x22, LEN);
	h->sm = ibv_reg_mr(c.pd, h->src, LEN, ALL_ACCESS);
	h->tm = ibv_reg_mr(c.pd, h->t, LEN, ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	check_fatal("register", h->sm && h->tm, "%s", strerror(errno));
	for (i = 0; i < 3; i++) {
		h->rs[i] = (struct ibv_sge){ (uintptr_t)h->t, i ? PAGE : LEN,
					     h->tm->lkey };
		h->rw[i] = (struct ibv_recv_wr){ .wr_id = RECV_ID + i,
						 .sg_list = &h->rs[i],
						 .num_sge = 1,
						 .next = i ? NULL : &h->rw[1] };
	}
	check_fatal("post the receives",
		    !(h->use_srq ? ibv_post_srq_recv(h->srq, h->rw, &bad) :
		      ibv_post_recv(h->p.b, h->rw, &bad)), "%s",
		    strerror(errno));
	h->bs = (struct ibv_sge){ (uintptr_t)h->src, 8, h->sm->lkey };
	h->bw = (struct ibv_send_wr){ .wr_id = 99, .sg_list = &h->bs,
				      .num_sge = 1, .opcode = IBV_WR_SEND,
				      .send_flags = IBV_SEND_SIGNALED };
	/* From now on the file's pages come only when the server says. */
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	pthread_mutex_unlock(&srv.lock);
	trace_clear();
	h->s = (struct long_post){ .qp = h->p.a };
	h->s.sge = (struct ibv_sge){ (uintptr_t)h->src, LEN, h->sm->lkey };
	h->s.wr = (struct ibv_send_wr){ .wr_id = 1, .sg_list = &h->s.sge,
					.num_sge = 1, .opcode = IBV_WR_SEND,
					.send_flags = IBV_SEND_SIGNALED };
	check_fatal("start the poster",
		    !pthread_create(&h->th, NULL, long_post_thread, &h->s), "");
	t0 = now_s();
	while (*(volatile uint8_t *)h->t != 0x5c && now_s() - t0 < 10)
		;
	h->started = *(volatile uint8_t *)h->t == 0x5c &&
		     *(volatile uint8_t *)h->file_part == 0x22;
	madvise(h->file_part, FILE_LEN, MADV_DONTNEED);
	fd = open(path, O_RDONLY);
	check_fatal("drop the file's cached pages",
		    fd >= 0 && !posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED),
		    "%s", strerror(errno));
	close(fd);
	/* The copy's miss: a fault event, its fault waiting for the server. */
	t0 = now_s();
	do {
		pthread_mutex_lock(&srv.lock);
		h->held = srv.held;
		h->held_pid = srv.held_pid;
		pthread_mutex_unlock(&srv.lock);
	} while (!h->held && now_s() - t0 < 20 && !usleep(1000));
	/* Its first byte landed: the poster is in ibv_post_send() or past. */
	h->tid = atomic_load(&h->s.state) ? h->s.tid : -1;
	h->blocked = h->held && h->held_pid != getpid() &&
		     h->held_pid != h->tid;
	/*
	 * Until held_release(): no allocation, no output, nothing that may
	 * take this process's mmap_lock for writing. The blocked fault holds
	 * it for reading (hmm_range_fault() without FAULT_FLAG_ALLOW_RETRY):
	 * a writer would wait for the server, and so would every fault of
	 * this thread queued behind that writer.
	 */
}

/*
 * The server answers: the poster (blocked until now if it faulted in
 * place itself) returns. Then the checks of held_start()'s part.
 */
static void held_release(struct held *h)
{
	char what[160], want[160];
	char *trace;

	release_reads();
	pthread_join(h->th, NULL);
	trace = read_trace();
	snprintf(want, sizeof(want),
		 "hodp_odp_fault_event: hodp0 qpn %u lkey 0x%x addr 0x%lx-",
		 h->p.a->qp_num, h->tm->lkey, (unsigned long)h->file_part);
	check(what_of(what, h->name, "the copy started before the drop"),
	      h->started, "");
	check(what_of(what, h->name,
		      "the copy's miss is a fault event, its fault blocked in the FUSE server"),
	      h->blocked && trace && strstr(trace, want),
	      "reads parked %d (by pid %ld; this process %d, the poster %ld), '%s' %s",
	      h->held, h->held_pid, getpid(), h->tid, want,
	      trace && strstr(trace, want) ? "traced" : "not traced");
	free(trace);
}

static void held_end(struct held *h)
{
	struct ibv_wc wc;

	ibv_destroy_qp(h->p.a);
	if (h->p.b)	/* not destroyed already (test_srq_destroyed()) */
		ibv_destroy_qp(h->p.b);
	if (h->srq)
		ibv_destroy_srq(h->srq);
	while (ibv_poll_cq(c.cq, 1, &wc) > 0)
		;
	ibv_dereg_mr(h->tm);
	ibv_dereg_mr(h->sm);
	munmap(h->t, LEN);
	munmap(h->src, LEN);
}

/*
 * After the server answered: the requester's SEND ends with an error (its
 * responder gone or closed), and nothing else completes.
 */
static void check_send_ended(struct held *h)
{
	struct ibv_wc late[2];
	char what[160];
	int nlate = poll_some(late, 1);

	usleep(100000);
	nlate += ibv_poll_cq(c.cq, 1, &late[nlate]) > 0;
	check(what_of(what, h->name,
		      "once the server answers, the SEND ends with an error, nothing else"),
	      nlate == 1 && late[0].wr_id == 1 &&
	      late[0].status != IBV_WC_SUCCESS && !h->s.ret,
	      "%d completions (the first %llu: %s), post %d", nlate,
	      nlate ? (unsigned long long)late[0].wr_id : 0ULL,
	      nlate ? ibv_wc_status_str(late[0].status) : "-", h->s.ret);
}

/*
 * The responder moved to ERR (or RESET, if @reset) while the receive the
 * SEND claimed is held, the requester's fault blocked.
 */
static void test_held(const char *dir, int use_srq, int reset)
{
	struct held h = {
		.name = use_srq ? reset ? "held SRQ receive, RESET" :
				  "held SRQ receive, ERR" :
			reset ? "held receive, RESET" : "held receive, ERR",
		.use_srq = use_srq,
	};
	struct ibv_qp_attr to = { .qp_state = reset ? IBV_QPS_RESET :
				  IBV_QPS_ERR };
	uint64_t next = use_srq ? 99 : RECV_ID + 1;
	struct ibv_wc wc[4];
	struct ibv_recv_wr *bad;
	char what[160];
	int n = 0, i;

	held_start(&h, dir);
	/*
	 * SRQ: a send WQE of the responder pending at ERR (an RNR wait: the
	 * requester has no receive), flushed by it.
	 */
	if (use_srq && h.blocked)
		post_send(h.p.b, &h.bw);
	if (h.blocked) {
		ibv_modify_qp(h.p.b, &to, IBV_QP_STATE);
		if (!reset || use_srq)
			n = poll_some(wc, reset ? 1 : 2);
		usleep(200000);
		n += ibv_poll_cq(c.cq, 1, &wc[n]) > 0;
	}
	held_release(&h);
	/* The requester's SEND finds its peer gone. */
	check_send_ended(&h);
	if (reset) {
		/*
		 * RESET discards what was posted to the QP, the held receive
		 * too; an SRQ's WQE it took is the SRQ's: it completes.
		 */
		check(what_of(what, h.name, use_srq ?
			      "the SRQ's WQE held completes with a flush error at once, nothing else" :
			      "the held receive is discarded with the rest, no completion"),
		      h.blocked && (use_srq ? n == 1 && wc[0].wr_id == RECV_ID &&
				    wc[0].status == IBV_WC_WR_FLUSH_ERR : !n),
		      "%d completions, the first %llu: %s", n,
		      n ? (unsigned long long)wc[0].wr_id : 0ULL,
		      n ? ibv_wc_status_str(wc[0].status) : "-");
	} else {
		int r1 = wc_of(wc, n, RECV_ID), after = wc_of(wc, n, next);

		check(what_of(what, h.name,
			      "it completes with a flush error while the fault is blocked"),
		      h.blocked && r1 >= 0 &&
		      wc[r1].status == IBV_WC_WR_FLUSH_ERR && n == 2,
		      "%d completions, the held one's %s", n,
		      r1 >= 0 ? ibv_wc_status_str(wc[r1].status) : "missing");
		check(what_of(what, h.name, use_srq ?
			      "before the responder's send queue's flush" :
			      "before the receive posted after it"),
		      r1 == 0 && after == 1 &&
		      wc[1].status == IBV_WC_WR_FLUSH_ERR,
		      "completions in order: %llu, %llu",
		      n > 0 ? (unsigned long long)wc[0].wr_id : 0ULL,
		      n > 1 ? (unsigned long long)wc[1].wr_id : 0ULL);
	}
	if (reset) {
		/*
		 * Connected again, a short SEND takes the next receive posted
		 * (the RQ's third, the SRQ's second): not the one RESET let go.
		 */
		uint64_t want_id = use_srq ? RECV_ID + 1 : RECV_ID + 2;
		int ok = !reconnect(&h.p) &&
			 (use_srq || !ibv_post_recv(h.p.b, &h.rw[2], &bad));

		n = 0;
		if (ok && !post_send(h.p.a, &h.bw))
			n = poll_some(wc, 2);
		i = wc_of(wc, n, want_id);
		check(what_of(what, h.name,
			      "connected again, the next message takes the next receive"),
		      ok && n == 2 && i >= 0 && wc[i].status == IBV_WC_SUCCESS &&
		      wc[i].byte_len == 8 && wc_of(wc, n, 99) >= 0 &&
		      wc[wc_of(wc, n, 99)].status == IBV_WC_SUCCESS,
		      "%d completions: %llu %s, %llu %s", n,
		      n > 0 ? (unsigned long long)wc[0].wr_id : 0ULL,
		      n > 0 ? ibv_wc_status_str(wc[0].status) : "-",
		      n > 1 ? (unsigned long long)wc[1].wr_id : 0ULL,
		      n > 1 ? ibv_wc_status_str(wc[1].status) : "-");
	}
	held_end(&h);
}

/*
 * RESET (or destroy, if @destroy) of a QP when told, from a thread of its
 * own: its verb may wait for the blocked fault (the provider's munmap of
 * a destroyed QP's rings waits for the mmap_lock).
 */
struct resetter {
	struct ibv_qp *_Atomic qp;
	int destroy;
	int ret;
	atomic_int done;
	atomic_int leave;	/* told to end (never while a fault blocks) */
};

static void *reset_thread(void *arg)
{
	struct resetter *r = arg;
	struct ibv_qp_attr rst = { .qp_state = IBV_QPS_RESET };
	struct ibv_qp *qp;

	while (!(qp = atomic_load(&r->qp)))
		usleep(1000);
	r->ret = r->destroy ? ibv_destroy_qp(qp) :
		 ibv_modify_qp(qp, &rst, IBV_QP_STATE);
	atomic_store(&r->done, 1);
	/* A thread's end may unmap: not while the fault holds mmap_lock. */
	while (!atomic_load(&r->leave))
		usleep(1000);
	return NULL;
}

/* The server's reads parked now. */
static int reads_held(void)
{
	int held;

	pthread_mutex_lock(&srv.lock);
	held = srv.held;
	pthread_mutex_unlock(&srv.lock);
	return held;
}

/*
 * The requester reset while its fault is blocked: RESET returns at once
 * (the event is not the QP's to wait for: its memory may be another
 * process's, hodp_fault.c), its SEND is discarded, and the responder keeps
 * the receive it held, which the requester's next message, once connected
 * again, fills from its first byte.
 */
static void test_requester_reset(const char *dir)
{
	struct held h = { .name = "held receive, requester RESET" };
	struct resetter r = { .ret = -1 };
	int n, i, ok, early, held = 0;
	struct ibv_wc wc[2];
	pthread_t rt;
	char what[160];
	double t0;

	/* Created before the fault blocks: a thread's stack is an mmap. */
	check_fatal("start the resetter",
		    !pthread_create(&rt, NULL, reset_thread, &r), "");
	held_start(&h, dir);
	atomic_store(&r.qp, h.p.a);
	t0 = now_s();
	while (!atomic_load(&r.done) && now_s() - t0 < 10)
		usleep(1000);
	/* Returned while the server still holds the fault's read. */
	early = atomic_load(&r.done);
	if (early)
		held = reads_held();
	held_release(&h);
	atomic_store(&r.leave, 1);
	pthread_join(rt, NULL);
	check(what_of(what, h.name,
		      "RESET returns while the fault is blocked"),
	      h.blocked && early && held,
	      "RESET %s (%d reads parked then)",
	      early ? "returned" : "still waiting after 10 s", held);
	t0 = now_s();
	n = 0;
	while (now_s() - t0 < 0.3)
		n += ibv_poll_cq(c.cq, 1, &wc[0]) > 0;
	check(what_of(what, h.name, "RESET succeeds, the SEND discarded"),
	      h.blocked && !r.ret && !n, "RESET %d, %d completions", r.ret,
	      n);
	/* Its next message: 8 bytes of 0xa5 into the held receive. */
	memset(h.src, 0xa5, 8);
	ok = !rc_connect(&c, h.p.a, h.p.b->qp_num, ALL_ACCESS, 7) &&
	     !post_send(h.p.a, &h.bw);
	n = ok ? poll_some(wc, 2) : 0;
	i = wc_of(wc, n, RECV_ID);
	check(what_of(what, h.name,
		      "the next message fills the held receive from its first byte"),
	      n == 2 && i >= 0 && wc[i].status == IBV_WC_SUCCESS &&
	      wc[i].byte_len == 8 && h.t[0] == 0xa5 && h.t[7] == 0xa5 &&
	      h.t[8] == 0x5c,
	      "%d completions, the held one's %s (%u bytes), bytes 0x%x 0x%x 0x%x",
	      n, i >= 0 ? ibv_wc_status_str(wc[i].status) : "missing",
	      i >= 0 ? wc[i].byte_len : 0, h.t[0], h.t[7], h.t[8]);
	held_end(&h);
}

/*
 * The SRQ responder destroyed while the SRQ's WQE a SEND claimed is held,
 * the requester's fault blocked: that WQE, the SRQ's, completes with a
 * flush error (as at RESET), not lost with the QP; once the server
 * answers, the SEND ends with an error.
 */
static void test_srq_destroyed(const char *dir)
{
	struct held h = { .name = "held SRQ receive, responder destroyed",
			  .use_srq = 1 };
	struct resetter r = { .destroy = 1, .ret = -1 };
	struct ibv_wc wc[2];
	pthread_t rt;
	char what[160];
	int n = 0;

	/*
	 * Created before the fault blocks: a thread's stack is an mmap. Its
	 * destroy returns from the kernel (the flush posted) before the
	 * provider unmaps the rings, which waits for the blocked fault's
	 * mmap_lock; so does, behind that writer, any page fault of this
	 * process until held_release(): this thread only polls the CQ ring,
	 * mapped and touched already.
	 */
	check_fatal("start the destroyer",
		    !pthread_create(&rt, NULL, reset_thread, &r), "");
	held_start(&h, dir);
	atomic_store(&r.qp, h.p.b);
	if (h.blocked) {
		n = poll_some(wc, 1);
		usleep(200000);
		n += ibv_poll_cq(c.cq, 1, &wc[n]) > 0;
	}
	held_release(&h);
	atomic_store(&r.leave, 1);
	pthread_join(rt, NULL);
	h.p.b = NULL;
	check_send_ended(&h);
	check(what_of(what, h.name,
		      "the SRQ's WQE held completes with a flush error while the fault is blocked, nothing else"),
	      h.blocked && !r.ret && n == 1 && wc[0].wr_id == RECV_ID &&
	      wc[0].status == IBV_WC_WR_FLUSH_ERR,
	      "destroy %d, %d completions, the first %llu: %s", r.ret, n,
	      n ? (unsigned long long)wc[0].wr_id : 0ULL,
	      n ? ibv_wc_status_str(wc[0].status) : "-");
	held_end(&h);
}

/*
 * Another process's requester, forked before anything else: its RDMA
 * READ's source is this process's ODP MR, over the FUSE file's part, and
 * its fault event's fault of that part waits for this process's server.
 * Meanwhile the other process resets its QP, connects it to a QP of its
 * own and READs from cold ODP memory of its own (a fault event too, not
 * held up by the first one), then exits (the exit destroys its QP):
 * nothing of it waits for the blocked fault.
 */
struct peer_msg {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
};

/* A child process of the test, and its pipes. */
struct child {
	pid_t pid;
	int to, from;		/* pipes' ends: to the child, from it */
};

static struct child peer = { .pid = -1 };

/* The children forked so far: each child closes the others' pipes. */
static struct child *forked[64];
static int nforked;

/*
 * Fork @ch, joined by two pipes, to run @run(in, out, @arg), which never
 * returns; @what names it in a failure.
 */
static void child_fork(struct child *ch, const char *what,
		       void (*run)(int in, int out, int arg), int arg)
{
	int i, to[2], from[2];

	check_fatal(what, nforked < (int)(sizeof(forked) / sizeof(forked[0])) &&
		    !pipe(to) && !pipe(from), "%s",
		    strerror(errno));
	fflush(NULL);
	ch->pid = fork();
	check_fatal(what, ch->pid >= 0, "%s", strerror(errno));
	if (!ch->pid) {
		close(to[1]);
		close(from[0]);
		/* The others' pipes: each sees its own ends alone. */
		for (i = 0; i < nforked; i++) {
			close(forked[i]->to);
			close(forked[i]->from);
		}
		run(to[0], from[1], arg);
	}
	close(to[0]);
	close(from[1]);
	ch->to = to[1];
	ch->from = from[0];
	forked[nforked++] = ch;
}

/* Reap @pid within @s seconds: 1 (its status in @status), or 0. */
static int reap_within(pid_t pid, int *status, double s)
{
	double t0 = now_s();

	while (now_s() - t0 < s) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		usleep(10000);
	}
	return 0;
}

/*
 * A child's mount point, for mkdtemp(): named after this test's process,
 * whose end removes it (children_dirs_remove()).
 */
static void child_dir(char *dir, size_t len, const char *what)
{
	snprintf(dir, len, "/tmp/hodp-fuse-%s-%d-XXXXXX", what, (int)getppid());
}

/*
 * A crowd child's start, once told to go on @in: a mount namespace of its
 * own, its own FUSE server mounted at a new mount point for @what (@dir,
 * @len bytes), the device opened. It exits if any of that fails.
 */
static void crowd_child_start(int in, const char *what, char *dir,
			      size_t len)
{
	char go;

	if (read(in, &go, 1) != 1)
		_exit(1);
	child_dir(dir, len, what);
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    !mkdtemp(dir) || fuse_start(dir))
		_exit(1);
	open_dev(&c, "hodp0");
}

#define PEER_READ	(1 * MIB)

/* One message from the peer within 30 s: the byte, or 0. */
static char peer_says(void)
{
	struct pollfd pfd = { .fd = peer.from, .events = POLLIN };
	char b = 0;

	if (poll(&pfd, 1, 30000) != 1 || read(peer.from, &b, 1) != 1)
		return 0;
	return b;
}

/* An RDMA @op of @sge and @raddr (@rkey) by @qp, wr_id @id. */
static int post_rdma(struct ibv_qp *qp, enum ibv_wr_opcode op,
		     struct ibv_sge *sge, uint64_t raddr, uint32_t rkey,
		     uint64_t id)
{
	struct ibv_send_wr wr = { .wr_id = id, .sg_list = sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED,
				  .wr.rdma = { raddr, rkey } };

	return post_send(qp, &wr);
}

/* A READ at @raddr (@rkey) into @sge by @qp, wr_id @id. */
static int post_read(struct ibv_qp *qp, struct ibv_sge *sge, uint64_t raddr,
		     uint32_t rkey, uint64_t id)
{
	return post_rdma(qp, IBV_WR_RDMA_READ, sge, raddr, rkey, id);
}

/*
 * The peer: READs from this process, tells 'p'; told 'r', resets, READs
 * its own cold ODP memory, tells 'o' if that completed (else 'f'); told
 * 'x', exits.
 */
static void peer_main(int in, int out, int unused)
{
	struct ibv_qp_attr rst = { .qp_state = IBV_QPS_RESET };
	struct ibv_mr *mr, *om;
	struct ibv_qp *qp, *own;
	struct ibv_sge sge;
	struct peer_msg m;
	struct ibv_wc wc;
	uint8_t *buf, *cold;
	char go, res;
	int n;

	(void)unused;
	if (read(in, &m, sizeof(m)) != sizeof(m))
		_exit(1);
	open_dev(&c, "hodp0");
	qp = rc_qp(&c, NULL, c.cq);
	own = rc_qp(&c, NULL, c.cq);
	buf = malloc(PEER_READ);
	cold = mmap(NULL, PEER_READ, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mr = buf ? ibv_reg_mr(c.pd, buf, PEER_READ, ALL_ACCESS) : NULL;
	om = cold != MAP_FAILED ?
	     ibv_reg_mr(c.pd, cold, PEER_READ,
			ALL_ACCESS | IBV_ACCESS_ON_DEMAND) : NULL;
	if (!mr || !om || !qp || !own ||
	    rc_connect(&c, qp, m.qpn, ALL_ACCESS, 7) ||
	    write(out, &qp->qp_num, sizeof(qp->qp_num)) != sizeof(qp->qp_num) ||
	    read(in, &go, 1) != 1)
		_exit(1);
	sge = (struct ibv_sge){ (uintptr_t)buf, PEER_READ, mr->lkey };
	if (post_read(qp, &sge, m.addr, m.rkey, 5) || write(out, "p", 1) != 1 ||
	    read(in, &go, 1) != 1)
		_exit(1);
	memset(buf, 0x77, PEER_READ);
	n = !ibv_modify_qp(qp, &rst, IBV_QP_STATE) &&
	    !rc_connect_both(&c, qp, own, ALL_ACCESS, 7) &&
	    !post_read(qp, &sge, (uintptr_t)cold, om->rkey, 6) ? 0 : -1;
	/* 20 s at most: the parent waits 30. */
	if (!n)
		n = completion_within(&wc, 20);
	res = n == 1 && wc.status == IBV_WC_SUCCESS && wc.wr_id == 6 &&
	      !buf[0] && !buf[PEER_READ - 1] ? 'o' : 'f';
	if (write(out, &res, 1) != 1 || read(in, &go, 1) != 1)
		_exit(1);
	/* Its QPs, MRs, context: the exit destroys them. */
	_exit(0);
}

static void test_peer_exits(const char *dir)
{
	const char *name = "a peer process's READ of the FUSE part";
	int fd, held = 0, held_reset = 0, reaped = 0, status = 0, ok;
	char path[256], what[160], want[160], posted = 0, reset = 0;
	char *trace;
	uint32_t peer_qpn = 0;
	uint8_t *t, *file_part;
	struct peer_msg m;
	struct ibv_mr *tm;
	struct ibv_qp *qp;
	long held_pid;
	double t0;

	snprintf(path, sizeof(path), "%s/f", dir);
	t = recv_buffer(path);
	file_part = t + LEN - FILE_LEN;
	memset(t, 0x22, LEN);
	tm = ibv_reg_mr(c.pd, t, LEN, ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	qp = rc_qp(&c, NULL, c.cq);
	check_fatal("register, QP", tm && qp, "%s", strerror(errno));
	m = (struct peer_msg){ qp->qp_num, tm->rkey, (uintptr_t)file_part };
	ok = write(peer.to, &m, sizeof(m)) == sizeof(m) &&
	     read(peer.from, &peer_qpn, sizeof(peer_qpn)) ==
	     sizeof(peer_qpn) &&
	     !rc_connect(&c, qp, peer_qpn, ALL_ACCESS, 7);
	check_fatal("connect to the peer", ok, "%s", strerror(errno));
	/* The file's pages come only when the server says, read again. */
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	pthread_mutex_unlock(&srv.lock);
	madvise(file_part, FILE_LEN, MADV_DONTNEED);
	fd = open(path, O_RDONLY);
	check_fatal("drop the file's cached pages",
		    fd >= 0 && !posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED),
		    "%s", strerror(errno));
	close(fd);
	trace_clear();
	ok = write(peer.to, "g", 1) == 1 && (posted = peer_says()) == 'p';
	t0 = now_s();
	while (ok && !(held = reads_held()) && now_s() - t0 < 20)
		usleep(1000);
	/*
	 * Its fault blocked (this process's mmap_lock held for reading):
	 * until the release, nothing here allocates or prints.
	 */
	if (held && write(peer.to, "r", 1) == 1) {
		reset = peer_says();
		held_reset = reads_held();
	}
	if (reset && write(peer.to, "x", 1) == 1) {
		reaped = reap_within(peer.pid, &status, 10);
		held = reaped ? reads_held() : 0;
	}
	release_reads();
	if (!reaped) {
		kill(peer.pid, SIGKILL);
		waitpid(peer.pid, &status, 0);
	}
	pthread_mutex_lock(&srv.lock);
	held_pid = srv.held_pid;
	pthread_mutex_unlock(&srv.lock);
	trace = read_trace();
	snprintf(want, sizeof(want),
		 "hodp_odp_fault_event: hodp0 qpn %u lkey 0x%x addr 0x%lx-",
		 peer_qpn, tm->lkey, (unsigned long)file_part);
	check(what_of(what, name,
		      "its fault event waits for the server, in neither process"),
	      ok && posted == 'p' && held_reset && held_pid != getpid() &&
	      held_pid != peer.pid && trace && strstr(trace, want),
	      "posted %d, reads parked %d, the last by pid %ld (this process %d, the peer %d), '%s' %s",
	      posted == 'p', held_reset, held_pid, getpid(), peer.pid, want,
	      trace && strstr(trace, want) ? "traced" : "not traced");
	free(trace);
	check(what_of(what, name,
		      "meanwhile the peer resets, and its next READ, a fault event of its own, completes"),
	      reset == 'o' && held_reset,
	      "the peer said '%c' (o: done, f: failed, none: no answer in 30 s), %d reads parked then",
	      reset ? reset : '-', held_reset);
	check(what_of(what, name,
		      "meanwhile the peer exits"),
	      reaped && held && WIFEXITED(status) && !WEXITSTATUS(status),
	      "peer %s (status 0x%x), %d reads parked when it was reaped",
	      reaped ? "exited" : reset ? "not reaped within 10 s" :
	      "never told to exit (no answer after its RESET)", status, held);
	ibv_destroy_qp(qp);
	ibv_dereg_mr(tm);
	munmap(t, LEN);
	close(peer.to);
	close(peer.from);
}

/*
 * A process that is its own FUSE server exits while a fault of its waits
 * for that server: its exit closes its verbs device (deregistering the
 * MR, destroying the QP) and its /dev/fuse (which ends the parked read),
 * in an order of the kernel's choosing, and neither may wait for the
 * other. Each case is a child forked at the start (before any thread),
 * told when to go: it mounts a server of its own, opens the device after
 * /dev/fuse or before it (EXIT_FUSE_FIRST), posts an RDMA WRITE from its
 * cold ODP mapping of the server's file (the requester's own miss: a
 * fault event) or prefetches that mapping asynchronously
 * (EXIT_PREFETCH), and once the read is parked, exits.
 */
#define EXIT_FUSE_FIRST	1
#define EXIT_PREFETCH	2
static struct child exiters[4];	/* [EXIT_* bits] */

#define EXIT_LEN	(1 * MIB)

/*
 * The first @len bytes of file @name of the server at @dir, privately
 * mapped read-only, or MAP_FAILED. The file is closed at once: a file of
 * a child's own file system open at its exit would send FUSE_FLUSH to the
 * server exiting (FUSE's own wait).
 */
static uint8_t *file_map(const char *dir, const char *name, size_t len)
{
	char path[80];
	uint8_t *map;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return MAP_FAILED;
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	return map;
}

/* The first EXIT_LEN bytes of the file of a child's own server at @dir. */
static uint8_t *own_file_map(const char *dir)
{
	return file_map(dir, "f", EXIT_LEN);
}

/*
 * Within 20 s, a read parked in this child's server by another task than
 * this one (a worker's): 'h', else 'n'.
 */
static char parked_by_worker(void)
{
	double t0 = now_s();
	char said = 'n';

	while (!reads_held() && now_s() - t0 < 20)
		usleep(1000);
	pthread_mutex_lock(&srv.lock);
	if (srv.held && srv.held_pid != getpid())
		said = 'h';
	pthread_mutex_unlock(&srv.lock);
	return said;
}

static void exiter_main(int in, int out, int how)
{
	int fuse_first = how & EXIT_FUSE_FIRST;
	char dir[64], go, said;
	struct ibv_mr *src_mr, *dst_mr;
	uint32_t conn = 0;
	struct stat st;
	struct rc_pair p;
	struct ibv_sge sge;
	uint8_t *src, *dst;

	if (read(in, &go, 1) != 1)
		_exit(1);
	child_dir(dir, sizeof(dir), "exit");
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    !mkdtemp(dir))
		_exit(1);
	if (fuse_first && fuse_start(dir))
		_exit(1);
	open_dev(&c, "hodp0");
	/*
	 * The prefetching process has no queue: nothing of the device is
	 * mapped, so its verbs file closes with the fd at the exit. (A
	 * queue's ring mapping keeps it open until the mm goes, which the
	 * blocked fault holds off: the fault event's process closes it
	 * only after /dev/fuse.)
	 */
	if (how & EXIT_PREFETCH) {
		if (ibv_destroy_cq(c.cq))
			_exit(1);
		c.cq = NULL;
	}
	if (!fuse_first && fuse_start(dir))
		_exit(1);
	/* The connection, for the parent to abort if this never ends. */
	if (stat(dir, &st))
		_exit(1);
	conn = (major(st.st_dev) << 20) | minor(st.st_dev);
	if (write(out, &conn, sizeof(conn)) != sizeof(conn))
		_exit(1);
	src = own_file_map(dir);
	dst = malloc(EXIT_LEN);
	if (src == MAP_FAILED || !dst)
		_exit(1);
	src_mr = ibv_reg_mr(c.pd, src, EXIT_LEN, IBV_ACCESS_ON_DEMAND);
	dst_mr = ibv_reg_mr(c.pd, dst, EXIT_LEN, ALL_ACCESS);
	if (!src_mr || !dst_mr)
		_exit(1);
	if (!(how & EXIT_PREFETCH))
		p = rc_pair(&c, ALL_ACCESS, 7);
	sge = (struct ibv_sge){ (uintptr_t)src, EXIT_LEN, src_mr->lkey };
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	pthread_mutex_unlock(&srv.lock);
	if (how & EXIT_PREFETCH ?
	    ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1) :
	    post_rdma(p.a, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)dst,
		      dst_mr->rkey, 1))
		_exit(1);
	said = parked_by_worker();
	if (write(out, &said, 1) != 1)
		_exit(1);
	/* Its MRs, QPs, context and server: the exit ends them. */
	_exit(0);
}


/*
 * Abort FUSE connection @conn (fusectl, mounted here if it is not): a
 * child stuck in its exit, waiting for its own server, ends then.
 */
static void fuse_abort(uint32_t conn)
{
	char path[96];

	mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort",
		 conn);
	write_str(path, "1");
}

static void test_own_server_exits(int how)
{
	struct child *e = &exiters[how];
	int status = 0, reaped = 0, rescued = 0, ok;
	struct pollfd pfd = { .fd = e->from, .events = POLLIN };
	char what[160], said = 0;
	uint32_t conn = 0;

	ok = write(e->to, "g", 1) == 1 && poll(&pfd, 1, 30000) == 1 &&
	     read(e->from, &conn, sizeof(conn)) == sizeof(conn) &&
	     poll(&pfd, 1, 30000) == 1 && read(e->from, &said, 1) == 1;
	if (ok)
		reaped = reap_within(e->pid, &status, 20);
	if (!reaped && conn) {
		char cmd[128];

		/* Where its exit waits, for the log. */
		snprintf(cmd, sizeof(cmd),
			 "for t in /proc/%d/task/*; do echo \"# $t:\"; sed 's/^/#   /' $t/stack; done",
			 e->pid);
		fflush(NULL);
		if (system(cmd))
			printf("# no stack of pid %d\n", e->pid);
		fuse_abort(conn);
		rescued = reap_within(e->pid, &status, 20);
	}
	if (!reaped && !rescued) {
		kill(e->pid, SIGKILL);
		rescued = reap_within(e->pid, &status, 10);
	}
	snprintf(what, sizeof(what),
		 "a process that is its own FUSE server (/dev/fuse opened %s the device) exits while its %s waits for that server",
		 how & EXIT_FUSE_FIRST ? "before" : "after",
		 how & EXIT_PREFETCH ? "asynchronous prefetch" : "fault event");
	check(what, ok && said == 'h' && reaped && WIFEXITED(status) &&
	      !WEXITSTATUS(status),
	      "its read %s; %s (status 0x%x)",
	      said == 'h' ? "parked" : said == 'n' ?
	      "not parked within 20 s, or by the child itself" :
	      "never reported (the child failed first)",
	      reaped ? "it exited" : rescued ?
	      "its exit hung until its FUSE connection was aborted" :
	      "its exit hung, even past an abort of its FUSE connection",
	      status);
	close(e->to);
	close(e->from);
}

/*
 * A crowd of processes, each its own FUSE server, fills hodp's
 * asynchronous prefetch with faults that wait in their servers: CROWD
 * processes, HODP_PREFETCH_INFLIGHT (64, a process's most) prefetches
 * each: 256 in all, as many as a workqueue runs at once (WQ_DFL_ACTIVE),
 * each in a worker of hodp_prefetch_wq, which the test counts. Meanwhile
 * this process's cold ODP RDMA WRITE must complete: its fault event's end runs its queue again as QP
 * work, which must not wait behind another process's prefetches. Each
 * child, forked at the start, is told when to go and when to exit (the
 * exit aborts its server's connection: its prefetches end).
 */
#define CROWD		4
#define CROWD_EACH	64
static struct child crowd[CROWD];

static void crowd_main(int in, int out, int unused)
{
	char dir[64], go, said = 'n';
	struct ibv_sge sge;
	struct ibv_mr *mr;
	uint8_t *map;
	int i, ok;

	(void)unused;
	crowd_child_start(in, "crowd", dir, sizeof(dir));
	/* Nothing of the device mapped: its exit closes the verbs file. */
	if (ibv_destroy_cq(c.cq))
		_exit(1);
	c.cq = NULL;
	map = own_file_map(dir);
	mr = map != MAP_FAILED ?
	     ibv_reg_mr(c.pd, map, EXIT_LEN, IBV_ACCESS_ON_DEMAND) : NULL;
	if (!mr)
		_exit(1);
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	srv.no_watchdog = 1;	/* held until the test is done with it */
	pthread_mutex_unlock(&srv.lock);
	sge = (struct ibv_sge){ (uintptr_t)map, EXIT_LEN, mr->lkey };
	/* The first parks in the server, the others behind its page. */
	for (i = 0, ok = 1; i < CROWD_EACH && ok; i++)
		ok = !ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0,
				    &sge, 1);
	if (ok)
		said = parked_by_worker();
	if (write(out, &said, 1) != 1 || read(in, &go, 1) != 1)
		_exit(1);
	/* Its MR, context and server: the exit ends them. */
	_exit(0);
}

/*
 * This process's cold ODP RDMA WRITE beside a crowd: its fault event, then
 * its queue's work when the event ends. What the crowd must not hold up.
 */
struct bystander {
	uint8_t *cold, *dst;
	struct ibv_mr *cm, *dm;
	struct rc_pair p;
	struct ibv_wc wc;
};

/*
 * Its buffers, MRs and QPs: nothing of it allocates once posted (a
 * process whose faults hold its mmap lock must map nothing meanwhile).
 */
static void bystander_prepare(struct bystander *b, const char *name)
{
	char what[160];

	b->cold = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b->dst = malloc(MIB);
	check_fatal(what_of(what, name, "the buffers"),
		    b->cold != MAP_FAILED && b->dst, "%s", strerror(errno));
	b->cm = ibv_reg_mr(c.pd, b->cold, MIB,
			   ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	b->dm = ibv_reg_mr(c.pd, b->dst, MIB, ALL_ACCESS);
	check_fatal(what_of(what, name, "register them"), b->cm && b->dm,
		    "%s", strerror(errno));
	memset(b->dst, 0x5c, MIB);
	b->p = rc_pair(&c, ALL_ACCESS, 7);
}

/* Post it (wr_id 77): 0, or -1. */
static int bystander_send(struct bystander *b)
{
	struct ibv_sge sge = { (uintptr_t)b->cold, MIB, b->cm->lkey };

	return post_rdma(b->p.a, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)b->dst,
			 b->dm->rkey, 77);
}

/* Post it and wait up to 15 s: 1 if it completed (in b->wc), else 0. */
static int bystander_post(struct bystander *b)
{
	return !bystander_send(b) && completion_within(&b->wc, 15);
}

/* Both of the above. */
static int bystander_write(struct bystander *b, const char *name)
{
	bystander_prepare(b, name);
	return bystander_post(b);
}

/* Its WRITE completed well: zeroes (cold memory) where 0x5c was. */
static int bystander_ok(const struct bystander *b)
{
	return b->wc.wr_id == 77 && b->wc.status == IBV_WC_SUCCESS &&
	       !b->dst[0] && !b->dst[MIB - 1];
}

/*
 * Once the crowd is gone: a WRITE held up until now (@n 0) completes now,
 * not left for later tests; then everything of it goes.
 */
static void bystander_end(struct bystander *b, int n)
{
	if (n != 1 && completion_within(&b->wc, 20))
		printf("# the WRITE completed after the crowd exited\n");
	ibv_destroy_qp(b->p.a);
	ibv_destroy_qp(b->p.b);
	ibv_dereg_mr(b->cm);
	ibv_dereg_mr(b->dm);
	munmap(b->cold, MIB);
	free(b->dst);
}

/*
 * The crowd's mirrors go (their work ended with their servers, the last
 * freeing its MR): within 20 s, back to @mirrors0.
 */
static void mirrors_back(const char *name, long long mirrors0)
{
	long long mirrors;
	double t0 = now_s();

	while ((mirrors = hmm_stat("mirrors")) > mirrors0 && now_s() - t0 < 20)
		usleep(10000);
	check(name, mirrors0 >= 0 && mirrors == mirrors0,
	      "mirrors %lld before, %lld after", mirrors0, mirrors);
}

/* @ch's answer (a byte) before @deadline (now_s()'s clock), or 0. */
static char child_says(struct child *ch, double deadline)
{
	struct pollfd pfd = { .fd = ch->from, .events = POLLIN };
	int left = (int)((deadline - now_s()) * 1000);
	char said = 0;

	if (left <= 0 || poll(&pfd, 1, left) != 1 ||
	    read(ch->from, &said, 1) != 1)
		return 0;
	return said;
}

/* Tell @ch to go, then its answer, as child_says(). */
static char child_go(struct child *ch, double deadline)
{
	if (write(ch->to, "g", 1) != 1)
		return 0;
	return child_says(ch, deadline);
}

/*
 * The @n bytes @ch wrote with the byte child_go() returned, within a
 * second: 1 if they came, else 0.
 */
static int child_more(struct child *ch, char *buf, int n)
{
	struct pollfd pfd = { .fd = ch->from, .events = POLLIN };

	return poll(&pfd, 1, 1000) == 1 && read(ch->from, buf, n) == n;
}

/* Tell @n children of @ch to exit, reaping them: how many exited 0. */
static int children_exit(struct child *ch, int n)
{
	int i, status, exited = 0;

	for (i = 0; i < n; i++) {
		if (write(ch[i].to, "x", 1) == 1 &&
		    reap_within(ch[i].pid, &status, 20) &&
		    WIFEXITED(status) && !WEXITSTATUS(status))
			exited++;
		else
			kill(ch[i].pid, SIGKILL);
		close(ch[i].to);
		close(ch[i].from);
	}
	return exited;
}

static void test_prefetch_crowd(void)
{
	struct bystander b;
	int i, parked = 0, exited, n;
	int busy, busy_after;
	long long mirrors0 = hmm_stat("mirrors");
	double t0 = now_s();

	for (i = 0; i < CROWD; i++)
		parked += child_go(&crowd[i], t0 + 60) == 'h';
	/* The workers start one by one. */
	while ((busy = workers_of("hodp_prefetch")) < CROWD * CROWD_EACH &&
	       now_s() - t0 < 60)
		usleep(10000);
	check("prefetch crowd: each process's asynchronous prefetches wait in its own FUSE server, a worker each",
	      parked == CROWD && busy >= CROWD * CROWD_EACH,
	      "%d of %d processes parked theirs, %d workers of hodp_prefetch busy (%d wanted)",
	      parked, CROWD, busy, CROWD * CROWD_EACH);
	n = bystander_write(&b, "prefetch crowd");
	busy_after = workers_of("hodp_prefetch");
	check("prefetch crowd: meanwhile a cold ODP RDMA WRITE of another process completes (its queue's work waits for no prefetch)",
	      n == 1 && bystander_ok(&b) && busy_after >= CROWD * CROWD_EACH,
	      "%s within 15 s (status %d), bytes 0x%x 0x%x, %d workers of hodp_prefetch still busy then",
	      n == 1 ? "completed" : "nothing",
	      n == 1 ? (int)b.wc.status : -1, b.dst[0], b.dst[MIB - 1],
	      busy_after);
	exited = children_exit(crowd, CROWD);
	check("prefetch crowd: the processes exit, their prefetches waiting",
	      exited == CROWD, "%d of %d exited", exited, CROWD);
	bystander_end(&b, n);
	/* Their prefetches end with their servers, the last freeing the MR. */
	mirrors_back("prefetch crowd: the processes' mirrors go once their prefetches ended",
		     mirrors0);
}

/*
 * A crowd of processes, each its own FUSE server failing the first read
 * of each page and holding the next: INPLACE_EACH RC QPs of each RDMA
 * WRITE a page of their server's file each. Each WRITE's fault event
 * fails (the first read: -EIO), which ends its events (hodp_fault.c); its
 * next fault of that page (one of its last events now; before, in the
 * QP's own work on hodp's workqueue) waits in the server: 256 in all, as
 * many as a workqueue runs at once, if nothing bounds them. Meanwhile
 * this process's cold ODP RDMA WRITE must complete: its fault event and
 * its queue's work wait for none of them (no QP's work faults, and a
 * process's events faulting its file take HODP_LANE_EVENTS workers at
 * most, its others waiting for those: which of its faults wait in its
 * server, first events or last ones, is up to the order they ran in).
 */
#define INPLACE_CROWD	4
#define INPLACE_EACH	64
static struct child inplace[INPLACE_CROWD];

/*
 * Reads of this child's server held (and first reads failed, in
 * *@failed_out): once @least are and nothing moved for 2 s (the others
 * wait behind them), or @all are: how many, or 0 after 30 s. @name says
 * whose in a # line.
 */
static int reads_settled(const char *name, int least, int all,
			 int *failed_out)
{
	double t0 = now_s(), since = now_s();
	int failed = 0, held = 0, last = -1, last_failed = -1, done = 0;

	while (!done && now_s() - t0 < 30) {
		pthread_mutex_lock(&srv.lock);
		failed = srv.failed;
		held = srv.held;
		pthread_mutex_unlock(&srv.lock);
		if (held != last || failed != last_failed) {
			last = held;
			last_failed = failed;
			since = now_s();
		}
		done = held >= least && (held == all || now_s() - since > 2);
		if (!done)
			usleep(10000);
	}
	printf("# %s: pid %d: %d first reads failed, %d reads held\n", name,
	       (int)getpid(), failed, held);
	fflush(stdout);		/* the child ends with _exit() */
	*failed_out = failed;
	return done ? held : 0;
}

/*
 * A child's WRITEs of its own FUSE file's pages: the file mapped (a fault
 * reads its own page: no readahead of the next ones), an ODP MR of it, a
 * pinned destination of a page per WRITE, and an RC pair per WRITE.
 */
struct page_writes {
	uint8_t *map, *dst;
	struct ibv_mr *mr, *dmr;
};

/* All of it for @n WRITEs, into @p (@n pairs): the child exits if not. */
static void page_writes_setup(struct page_writes *w, const char *dir,
			      struct rc_pair *p, int n)
{
	int i;

	w->map = own_file_map(dir);
	if (w->map == MAP_FAILED || madvise(w->map, EXIT_LEN, MADV_RANDOM))
		_exit(1);
	w->mr = ibv_reg_mr(c.pd, w->map, EXIT_LEN, IBV_ACCESS_ON_DEMAND);
	w->dst = malloc(n * PAGE);
	w->dmr = w->dst ? ibv_reg_mr(c.pd, w->dst, n * PAGE, ALL_ACCESS) :
			  NULL;
	if (!w->mr || !w->dmr)
		_exit(1);
	memset(w->dst, 0x5c, n * PAGE);
	for (i = 0; i < n; i++)
		p[i] = rc_pair(&c, ALL_ACCESS, 7);
}

/* Post them, page i by p[i] (wr_id i): 1 if all were posted. */
static int page_writes_post(struct page_writes *w, struct rc_pair *p, int n)
{
	int i, ok;

	for (i = 0, ok = 1; i < n && ok; i++) {
		struct ibv_sge sge = { (uintptr_t)w->map + i * PAGE, PAGE,
				       w->mr->lkey };

		ok = !post_rdma(p[i].a, IBV_WR_RDMA_WRITE, &sge,
				(uintptr_t)w->dst + i * PAGE, w->dmr->rkey, i);
	}
	return ok;
}

/*
 * A process's events running at once in one lane (HODP_LANE_EVENTS,
 * hodp_fault.c): those faulting a file, here.
 */
#define LANE_EVENTS	16

/* Which crowd a page-writing child is of (page_crowd_main()'s arg). */
enum { CROWD_INPLACE, CROWD_FILE };
/* A file crowd child's WRITEs: its file lane full. */
#define FILE_CROWD_EACH	LANE_EVENTS

/*
 * A child of the in-place crowd (its server failing each page's first
 * read) or of the file crowd (holding every read): it says how many reads
 * its server holds, then how many failed first.
 */
static void page_crowd_main(int in, int out, int which)
{
	int n = which == CROWD_FILE ? FILE_CROWD_EACH : INPLACE_EACH;
	const char *name = which == CROWD_FILE ? "file crowd" :
			   "in-place crowd";
	struct rc_pair p[INPLACE_EACH];
	char dir[64], go, said[2] = { 0, 0 };
	struct page_writes w;
	int ok, failed = 0;

	crowd_child_start(in, which == CROWD_FILE ? "file" : "inplace", dir,
			  sizeof(dir));
	page_writes_setup(&w, dir, p, n);
	pthread_mutex_lock(&srv.lock);
	srv.fail_first = which == CROWD_INPLACE;
	srv.hold = 1;
	srv.no_watchdog = 1;	/* held until the test is done with it */
	pthread_mutex_unlock(&srv.lock);
	ok = page_writes_post(&w, p, n);
	/*
	 * In place: each held one is a fault after its WQE's events failed
	 * (some wait behind those). File crowd: all of them held.
	 */
	if (ok)
		said[0] = (char)reads_settled(name, which == CROWD_FILE ? n : 1,
					      n, &failed);
	said[1] = (char)failed;
	if (write(out, said, 2) != 2 || read(in, &go, 1) != 1)
		_exit(1);
	/* Its QPs, MRs and server: the exit ends them. */
	_exit(0);
}

/*
 * Beside crowd @name, the faults of its @n children (@ch) waiting in
 * their servers: this process's cold ODP RDMA WRITE, which must complete
 * (@meanwhile: whose, and why, in the check's name); then the children
 * exit, and their mirrors go (back to @mirrors0).
 */
static void crowd_bystander(const char *name, struct child *ch, int n,
			    const char *meanwhile, long long mirrors0)
{
	struct bystander b;
	char what[256];
	int done;

	done = bystander_write(&b, name);
	snprintf(what, sizeof(what),
		 "%s: meanwhile a cold ODP RDMA WRITE %s", name, meanwhile);
	check(what, done == 1 && bystander_ok(&b),
	      "%s within 15 s (status %d), bytes 0x%x 0x%x",
	      done == 1 ? "completed" : "nothing",
	      done == 1 ? (int)b.wc.status : -1, b.dst[0], b.dst[MIB - 1]);
	snprintf(what, sizeof(what),
		 "%s: the processes exit, their faults waiting", name);
	check(what, children_exit(ch, n) == n, "%s",
	      "not all of them exited within 20 s");
	bystander_end(&b, done);
	snprintf(what, sizeof(what),
		 "%s: the processes' mirrors go once their faults ended", name);
	mirrors_back(what, mirrors0);
}

static void test_inplace_crowd(void)
{
	long long mirrors0 = hmm_stat("mirrors");
	int i, parked = 0, procs = 0, busy_qp, busy_ev;
	double t0 = now_s();
	char held, failed;

	for (i = 0; i < INPLACE_CROWD; i++) {
		held = child_go(&inplace[i], t0 + 90);
		if (!child_more(&inplace[i], &failed, 1))
			failed = 0;
		/* Some of its faults wait, after their page's read failed. */
		procs += held > 0 && held <= LANE_EVENTS && failed >= held;
		parked += held > 0 ? held : 0;
	}
	busy_qp = workers_of("hodp");
	busy_ev = workers_of("hodp_fault");
	printf("# in-place crowd: %d faults wait in the servers, %d workers of hodp and %d of hodp_fault busy\n",
	       parked, busy_qp, busy_ev);
	check("in-place crowd: each process's WRITEs' faults wait in its own FUSE server, each after its page's first read failed, 16 at most (its events bounded)",
	      procs == INPLACE_CROWD, "%d of %d processes got there (the # lines above say what each saw)",
	      procs, INPLACE_CROWD);
	crowd_bystander("in-place crowd", inplace, INPLACE_CROWD,
			"of another process completes (its event and its queue's work wait for none of theirs)",
			mirrors0);
}

/*
 * A crowd of processes, each its own FUSE server holding its reads:
 * FILE_CROWD_EACH RC QPs of each RDMA WRITE a page of their server's file,
 * 256 fault events of file lanes waiting in the servers, as many as a
 * workqueue runs at once (each process's file lane full: LANE_EVENTS).
 * Meanwhile a cold ODP RDMA WRITE of this process's anonymous memory must
 * complete: the file lanes' events run on a workqueue of their own
 * (hodp_fault_file), which no fault of anonymous memory waits for.
 */
#define FILE_CROWD	16
static struct child filecrowd[FILE_CROWD];

/*
 * Tell the @n children of crowd @name (@ch) to go, all at once (each sets
 * its part up in a few seconds), then take each one's two answers within
 * 120 s: its first byte into @said[i], its next into @more[i] (-1 if that
 * did not come).
 */
static void crowd_go_all(struct child *ch, int n, const char *name,
			 char *said, char *more)
{
	double t0 = now_s();
	int i;

	for (i = 0; i < n; i++)
		if (write(ch[i].to, "g", 1) != 1)
			printf("# %s: child %d is gone\n", name, i);
	for (i = 0; i < n; i++) {
		said[i] = child_says(&ch[i], t0 + 120);
		if (!child_more(&ch[i], &more[i], 1))
			more[i] = -1;
	}
}

static void test_file_crowd(void)
{
	long long mirrors0 = hmm_stat("mirrors");
	int i, procs = 0, parked = 0, busy_mem, busy_file;
	char held[FILE_CROWD], failed[FILE_CROWD];

	crowd_go_all(filecrowd, FILE_CROWD, "file crowd", held, failed);
	for (i = 0; i < FILE_CROWD; i++) {
		procs += held[i] == FILE_CROWD_EACH && !failed[i];
		parked += held[i] > 0 ? held[i] : 0;
	}
	busy_mem = workers_of("hodp_fault");
	busy_file = workers_of("hodp_fault_file");
	printf("# file crowd: %d faults wait in the servers, %d workers of hodp_fault and %d of hodp_fault_file busy\n",
	       parked, busy_mem, busy_file);
	check("file crowd: each process's WRITEs' faults wait in its own FUSE server, 16 each (256 in all)",
	      procs == FILE_CROWD, "%d of %d processes got there (the # lines above say what each saw)",
	      procs, FILE_CROWD);
	crowd_bystander("file crowd", filecrowd, FILE_CROWD,
			"of another process's anonymous memory completes (no fault of a file holds its event's workqueue)",
			mirrors0);
}

/*
 * A process, its own FUSE server, faults two kinds of its memory: LANES_EACH
 * RC QPs RDMA WRITE a page each of its server's file, whose reads the
 * server holds (16 fault events wait in it, the others behind them), then
 * one more WRITEs from its cold anonymous memory. That fault must not wait
 * behind the held ones (the lanes of hodp_fault.c): the server could be
 * waiting for it, answering its reads by RDMA into its own memory. So must
 * another, posted while a task of the process waits to map something (its
 * mmap lock wanted for writing, behind the held faults) and then killed:
 * the writer's moment must not send it to wait among the held ones. Then
 * the server answers, and every WRITE from the file completes.
 */
#define LANES_EACH	24
static struct child laner;

/*
 * Once the reads are answered: the WRITEs from the file that completed
 * well, each within 20 s of the last, and the anonymous memory's if it
 * had not (said in a # line).
 */
static int lanes_completed(uint8_t *dst)
{
	struct ibv_wc wc;
	int seen = 0, n = 0;

	while (seen < LANES_EACH && completion_within(&wc, 20)) {
		if (wc.wr_id == 77) {
			printf("# lanes: the anonymous memory's WRITE completed once the reads were answered\n");
			continue;
		}
		seen++;
		n += wc.wr_id < LANES_EACH && wc.status == IBV_WC_SUCCESS &&
		     dst[wc.wr_id * PAGE] == 0x11 &&
		     dst[(wc.wr_id + 1) * PAGE - 1] == 0x11;
	}
	return n;
}

/*
 * Before the reads are held: every library call writer_moment() makes
 * once they are that this process has not made yet, made once now (bound,
 * its code mapped: a page fault then would wait behind the writer).
 */
static void writer_moment_warm(const char *name)
{
	char buf[512];
	int status;

	alarm(0);
	close_range(~0U, ~0U, 0);
	kill(getpid(), 0);
	waitpid(-1, &status, WNOHANG);
	/* On data, not constants (which the compiler folds away). */
	proc_read(getpid(), "syscall", buf);
	proc_read(getpid(), "stat", buf);
	if (!strrchr(buf, ')') || !strncmp(buf, "9 ", 2))
		printf("# %s: /proc/self/stat reads \"%.20s\"\n", name, buf);
	/* Its buffer allocated now (stdout's first line in this process). */
	printf("# %s: pid %d: its server holds the reads from now on\n",
	       name, (int)getpid());
}

/*
 * @b's WRITE (its fault event's look at the mappings) while a task of
 * this process waits in mmap() for its mmap lock, behind the held faults;
 * nothing may complete while it waits (the look waits for the lock too),
 * and 2 s later it is killed: 'y' if the WRITE then completed well within
 * 15 s, 'n' if not, 'e' if something completed while the task waited,
 * 'w' if it never waited, 'c' if it could not be made, 'p' if the WRITE
 * could not be posted.
 */
static char writer_moment(struct bystander *b, char *stack, size_t len)
{
	static const unsigned int bound = 8;
	pid_t w = clone(mmap_writer, stack + len, CLONE_VM | SIGCHLD,
			(void *)&bound);
	struct ibv_wc wc;
	double t0;
	int status;
	char said;

	if (w < 0)
		return 'c';
	said = task_waits(w) ? 'p' : 'w';
	if (said == 'p' && !bystander_send(b)) {
		said = 'n';
		for (t0 = now_s(); now_s() - t0 < 2 && said == 'n';)
			if (ibv_poll_cq(c.cq, 1, &wc) > 0)
				said = 'e';
			else
				usleep(10000);
	}
	kill(w, SIGKILL);
	waitpid(w, &status, 0);
	if (said == 'n' && completion_within(&b->wc, 15) && bystander_ok(b))
		said = 'y';
	return said;
}

static void lanes_main(int in, int out, int unused)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	struct rc_pair p[LANES_EACH];
	char dir[64], go, said[4] = { 0, 0, 0, 0 };
	struct bystander b, b2;
	struct page_writes w;
	int ok, failed;

	(void)unused;
	crowd_child_start(in, "lanes", dir, sizeof(dir));
	page_writes_setup(&w, dir, p, LANES_EACH);
	/* Mapped now: the held faults hold this process's mmap lock. */
	bystander_prepare(&b, "lanes");
	bystander_prepare(&b2, "lanes");
	memset(stack, 0, sizeof(stack));
	writer_moment_warm("lanes");
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	srv.no_watchdog = 1;	/* held until this test answers them */
	pthread_mutex_unlock(&srv.lock);
	ok = page_writes_post(&w, p, LANES_EACH);
	if (ok)
		said[0] = (char)reads_settled("lanes", LANE_EVENTS, LANES_EACH,
					      &failed);
	if (said[0])
		said[1] = bystander_post(&b) && bystander_ok(&b) ? 'y' : 'n';
	if (said[1] == 'y')
		said[2] = writer_moment(&b2, stack, sizeof(stack));
	release_reads();
	said[3] = (char)lanes_completed(w.dst);
	fflush(stdout);		/* the child ends with _exit() */
	if (write(out, said, 4) != 4 || read(in, &go, 1) != 1)
		_exit(1);
	_exit(0);
}

static void test_lanes(void)
{
	long long mirrors0 = hmm_stat("mirrors");
	char held, said[3] = { 0, 0, 0 };

	held = child_go(&laner, now_s() + 90);
	if (!child_more(&laner, said, 3))
		memset(said, 0, sizeof(said));
	check("lanes: a process's WRITEs from its own FUSE file wait in its server, 16 of its 24 (the file lane bounded, and full)",
	      held == LANE_EVENTS, "%d reads held", held);
	check("lanes: meanwhile its cold ODP RDMA WRITE from anonymous memory completes (no fault of its anonymous memory waits behind its faults that wait on a file)",
	      said[0] == 'y', "%s", said[0] == 'n' ?
	      "nothing within 15 s, or not the data (the # lines say if it came later)" :
	      "not posted");
	check("lanes: so does one posted while a task of the process waits to map a page (its mmap lock wanted behind the held faults), killed 2 s later (no writer's moment sends it to wait among them)",
	      said[1] == 'y', "%s", said[1] == 'n' ?
	      "nothing within 15 s of the kill, or not the data" :
	      said[1] == 'e' ? "something completed while the task waited for the lock (it did not hold up the look: the test proves nothing)" :
	      said[1] == 'w' ? "the task never waited in mmap() for the lock" :
	      said[1] == 'c' ? "clone() failed" :
	      said[1] == 'p' ? "the WRITE could not be posted" : "not posted");
	check("lanes: once the server answers, every WRITE from the file completes with the file's bytes",
	      said[2] == LANES_EACH, "%d of %d", said[2], LANES_EACH);
	check("lanes: the process exits", children_exit(&laner, 1) == 1,
	      "%s", "it did not exit within 20 s");
	mirrors_back("lanes: its mirror goes", mirrors0);
}

/*
 * A crowd of processes, each its own FUSE server holding the read of one
 * WRITE's fault (which holds the process's mmap lock for reading while it
 * waits), a task of it waiting to map a page behind that fault (the lock
 * wanted for writing), and LANE_EVENTS WRITEs from its cold anonymous
 * memory posted then, whose events look at the mappings and find the lock
 * wanted: 256 of them. They wait for it on a workqueue of their own
 * (fault_event_to_lock_wait()), neither hodp_fault's nor
 * hodp_fault_file's, one of each process in a worker, the others behind
 * it in none; meanwhile a cold ODP RDMA WRITE of this process's
 * anonymous memory must complete.
 */
#define LOCK_CROWD	16
static struct child lockcrowd[LOCK_CROWD];

/*
 * A child of the lock crowd: it says whether its server holds the file
 * WRITE's read (1), then how many anonymous WRITEs it posted while its
 * task waited in mmap() (LANE_EVENTS, or 0 if that task never waited or
 * a post failed).
 * Told to exit, it kills that task first: its exit would wait behind it
 * for the mmap lock, and its server's connection, which the held fault
 * waits for, ends only after that.
 */
static void lock_crowd_main(int in, int out, int unused)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	static const unsigned int bound = 300;
	struct rc_pair fp, ap[LANE_EVENTS];
	char dir[64], go, said[2] = { 0, 0 };
	struct page_writes w, anon, warm;
	struct ibv_wc wc;
	int i, ok, failed, status;
	pid_t wr = -1;

	(void)unused;
	crowd_child_start(in, "lock", dir, sizeof(dir));
	page_writes_setup(&w, dir, &fp, 1);
	anon.map = mmap(NULL, LANE_EVENTS * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	anon.dst = malloc(LANE_EVENTS * PAGE);
	if (anon.map == MAP_FAILED || !anon.dst)
		_exit(1);
	anon.mr = ibv_reg_mr(c.pd, anon.map, LANE_EVENTS * PAGE,
			     IBV_ACCESS_ON_DEMAND);
	anon.dmr = ibv_reg_mr(c.pd, anon.dst, LANE_EVENTS * PAGE, ALL_ACCESS);
	if (!anon.mr || !anon.dmr)
		_exit(1);
	for (i = 0; i < LANE_EVENTS; i++)
		ap[i] = rc_pair(&c, ALL_ACCESS, 7);
	/*
	 * Each QP's queue and the CQ touched by a WRITE of pinned memory
	 * now: a post's page fault, once the task waits, would wait too.
	 */
	warm = (struct page_writes){ anon.dst, anon.dst, anon.dmr, anon.dmr };
	ok = page_writes_post(&warm, ap, LANE_EVENTS);
	for (i = 0; i < LANE_EVENTS && ok; i++)
		ok = completion_within(&wc, 20) && wc.status == IBV_WC_SUCCESS;
	if (!ok)
		_exit(1);
	memset(stack, 0, sizeof(stack));
	writer_moment_warm("lock crowd");
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	srv.no_watchdog = 1;	/* held until the test is done with it */
	pthread_mutex_unlock(&srv.lock);
	if (page_writes_post(&w, &fp, 1))
		said[0] = (char)reads_settled("lock crowd", 1, 1, &failed);
	if (said[0] == 1) {
		wr = clone(mmap_writer, stack + sizeof(stack),
			   CLONE_VM | SIGCHLD, (void *)&bound);
		if (wr > 0 && task_waits(wr) &&
		    page_writes_post(&anon, ap, LANE_EVENTS))
			said[1] = LANE_EVENTS;
	}
	ok = write(out, said, 2) == 2 && read(in, &go, 1) == 1;
	if (wr > 0) {
		kill(wr, SIGKILL);
		waitpid(wr, &status, 0);
	}
	/* Its QPs, MRs and server: the exit ends them. */
	_exit(ok ? 0 : 1);
}

static void test_lock_crowd(void)
{
	long long mirrors0 = hmm_stat("mirrors");
	int i, procs = 0, busy_mem, busy_file, busy_lock, stable = 0;
	char held[LOCK_CROWD], posted[LOCK_CROWD];
	double t0;

	crowd_go_all(lockcrowd, LOCK_CROWD, "lock crowd", held, posted);
	for (i = 0; i < LOCK_CROWD; i++)
		procs += held[i] == 1 && posted[i] == LANE_EVENTS;
	check("lock crowd: in each process a fault of its file waits in its own FUSE server, a task waits to map a page behind it, and 16 WRITEs from its anonymous memory are posted",
	      procs == LOCK_CROWD, "%d of %d processes got there (the # lines above say what each saw)",
	      procs, LOCK_CROWD);
	/*
	 * Their events raised, looked and moved on (workers made as they
	 * come): the counts the same three seconds in a row.
	 */
	t0 = now_s();
	do {
		sleep(1);
		busy_lock = workers_of("hodp_fault_lock");
		busy_mem = workers_of("hodp_fault");
		stable = busy_lock == LOCK_CROWD && !busy_mem ? stable + 1 : 0;
	} while (stable < 3 && now_s() - t0 < 30);
	busy_file = workers_of("hodp_fault_file");
	printf("# lock crowd: %d workers of hodp_fault, %d of hodp_fault_lock and %d of hodp_fault_file busy\n",
	       busy_mem, busy_lock, busy_file);
	check("lock crowd: their 256 events wait for the mmap lock, one of each process in a worker of hodp_fault_lock, the others behind it in none; none in hodp_fault's nor in hodp_fault_file's (which hold the 16 file faults alone)",
	      busy_lock == LOCK_CROWD && !busy_mem &&
	      busy_file == LOCK_CROWD, "%d, %d and %d (want %d, 0 and %d)",
	      busy_lock, busy_mem, busy_file, LOCK_CROWD, LOCK_CROWD);
	crowd_bystander("lock crowd", lockcrowd, LOCK_CROWD,
			"of another process's anonymous memory completes (no fault event waits for a process's contended mmap lock in its workqueue's workers)",
			mirrors0);
}

/*
 * A page that can never be read (the file "bad"): a WRITE from it ends
 * with a local protection error after two fault events of its QP, the
 * first one's failure ending its events, and its last one's (raised as
 * an event too: no fault in the QP's work) failing the WQE. It never
 * loops.
 */
static void test_unreadable(const char *dir)
{
	struct ibv_mr *mr, *dmr;
	struct ibv_wc wc = { .status = -1 };
	struct ibv_sge sge;
	struct rc_pair p;
	uint8_t *map = file_map(dir, "bad", 4 * PAGE), dst[4 * PAGE];
	int n = 0, events;
	char *trace;

	check_fatal("unreadable page: map the file", map != MAP_FAILED, "%s",
		    strerror(errno));
	mr = ibv_reg_mr(c.pd, map, 4 * PAGE, IBV_ACCESS_ON_DEMAND);
	dmr = ibv_reg_mr(c.pd, dst, sizeof(dst), ALL_ACCESS);
	check_fatal("unreadable page: register", mr && dmr, "%s",
		    strerror(errno));
	p = rc_pair(&c, ALL_ACCESS, 7);
	sge = (struct ibv_sge){ (uintptr_t)map, 4 * PAGE, mr->lkey };
	trace_clear();
	n = !post_rdma(p.a, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)dst,
		       dmr->rkey, 5) && completion_within(&wc, 15);
	trace = read_trace();
	events = trace ? events_of(trace, p.a->qp_num) : -1;
	free(trace);
	check("unreadable page: the WRITE ends with a local protection error",
	      n == 1 && wc.wr_id == 5 && wc.status == IBV_WC_LOC_PROT_ERR,
	      "%s within 15 s (status %d)", n == 1 ? "completed" : "nothing",
	      n == 1 ? (int)wc.status : -1);
	check("unreadable page: after two fault events (the first's failure ended them, the last one failed)",
	      events == 2, "%d events", events);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(dmr);
	munmap(map, 4 * PAGE);
}

/* The children's mount points, empty: their mounts died with them. */
static void children_dirs_remove(void)
{
	char pattern[64];
	glob_t g;
	size_t i;

	snprintf(pattern, sizeof(pattern), "/tmp/hodp-fuse-*-%d-*",
		 (int)getpid());
	if (glob(pattern, 0, NULL, &g))
		return;
	for (i = 0; i < g.gl_pathc; i++)
		rmdir(g.gl_pathv[i]);
	globfree(&g);
}

/*
 * The main thread's stack grown now: growing it while a fault holds the
 * mmap_lock (held_start()) would wait for that fault.
 */
static void __attribute__((noinline)) grow_stack(void)
{
	volatile char pad[256 * 1024];
	size_t i;

	for (i = 0; i < sizeof(pad); i += PAGE)
		pad[i] = 0;
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
	int i;

	/* No khugepaged writer on this mm while a fault holds it (above). */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	grow_stack();
	if (access("/dev/fuse", F_OK) && system("modprobe fuse 2>/dev/null"))
		errno = ENOENT;
	if (access("/dev/fuse", F_OK)) {
		skip("FUSE", "no /dev/fuse: %s (the kernel has no FUSE)",
		     strerror(errno));
		return check_done();
	}
	/* Before any thread or device of this process. */
	child_fork(&peer, "fork the peer", peer_main, 0);
	for (i = 0; i < 4; i++)
		child_fork(&exiters[i], "fork an exiting child", exiter_main, i);
	for (i = 0; i < CROWD; i++)
		child_fork(&crowd[i], "fork a prefetching child", crowd_main, 0);
	for (i = 0; i < INPLACE_CROWD; i++)
		child_fork(&inplace[i], "fork a faulting child",
			   page_crowd_main, CROWD_INPLACE);
	for (i = 0; i < FILE_CROWD; i++)
		child_fork(&filecrowd[i], "fork a child faulting its file",
			   page_crowd_main, CROWD_FILE);
	child_fork(&laner, "fork a child faulting two kinds of memory",
		   lanes_main, 0);
	for (i = 0; i < LOCK_CROWD; i++)
		child_fork(&lockcrowd[i], "fork a child whose mmap lock waits",
			   lock_crowd_main, 0);
	/* A peer gone early fails a check, not the process. */
	signal(SIGPIPE, SIG_IGN);
	/* A mount namespace of its own: the mount ends with the process. */
	check_fatal("private mounts", !unshare(CLONE_NEWNS) &&
		    !mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "%s",
		    strerror(errno));
	check_fatal("FUSE mount", mkdtemp(mnt) && !fuse_start(mnt), "%s",
		    strerror(errno));
	atexit(unmount_at_exit);
	trace_mount();
	trace_hodp_on();
	open_dev(&c, "hodp0");
	test_held(mnt, 0, 0);
	test_held(mnt, 1, 0);
	test_held(mnt, 0, 1);
	test_held(mnt, 1, 1);
	test_requester_reset(mnt);
	test_srq_destroyed(mnt);
	test_peer_exits(mnt);
	test_unreadable(mnt);
	test_own_server_exits(EXIT_FUSE_FIRST);
	test_own_server_exits(0);
	test_own_server_exits(EXIT_FUSE_FIRST | EXIT_PREFETCH);
	test_own_server_exits(EXIT_PREFETCH);
	test_prefetch_crowd();
	test_inplace_crowd();
	test_file_crowd();
	test_lanes();
	test_lock_crowd();
	children_dirs_remove();
	check("the FUSE server's watchdog answered no read itself",
	      !srv.watchdog, "%d reads held over %d s", srv.watchdog,
	      HOLD_MAX_S);
	fuse_stop(mnt);
	rmdir(mnt);
	kmsg_check(kmsg, "the kernel logged no bug");
	return check_done();
}
