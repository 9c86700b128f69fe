/*
 * A hostile client, for a fixed number of rounds: it writes random garbage
 * all over its mapped queues (headers, indices, WQEs, CQEs), rings
 * doorbells and arms its CQ; beside that, two threads of it resize one CQ
 * at once, another keeps the producer indices of a QP in ERR moving (and
 * its CQ's consumer index, so the flush never ends by itself), and every
 * few rounds it destroys a QP while its peer fails against it and posts
 * error completions. Meanwhile another process moves data on its own QPs
 * and checks every byte. The kernel must survive and report nothing, the
 * hostile client must finish its rounds (not die of a signal: it never
 * reads what it scribbles on), and the other QPs must keep working.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <rdma/ib_user_verbs.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "verbs.h"

#define ROUNDS		3000
#define DEBUG_ROUNDS	1000	/* KASAN's kernel is several times slower */
#define DESTROY_EVERY	100	/* rounds between destroys under errors */
#define RESIZES		300	/* per resizing thread */
#define ERR_SQ_MASK	1023	/* the rings of the QP in ERR: find_ring() */
#define ERR_RQ_MASK	2047
#define ERR_CQ_MASK	8191

/* The child's exit statuses. */
enum { DONE = 0, NO_RINGS = 2, BAD_RESIZE = 3, NO_PAIR = 4 };

struct ring {
	uint8_t *start;
	size_t len;
};

/* The rings the provider mapped from the uverbs device. */
static int find_rings(struct ring *r, int max)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	while (f && n < max && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (strstr(line, "/dev/infiniband/uverbs") &&
		    sscanf(line, "%lx-%lx", &a, &b) == 2) {
			r[n].start = (uint8_t *)a;
			r[n].len = b - a;
			n++;
		}
	}
	if (f)
		fclose(f);
	return n;
}

static struct ibv_cq *resized_cq;
static atomic_int resize_bad, stop;
static volatile struct rxe_queue_buf *err_sq, *err_rq, *err_cq;

static void *resizer(void *arg)
{
	long id = (long)arg;
	int i, ret;

	for (i = 0; i < RESIZES; i++) {
		ret = raw_resize_cq(resized_cq, 8 + ((i + id) % 3) * 40);
		if (ret && ret != -EINVAL && ret != -ENOMEM)
			atomic_fetch_add(&resize_bad, 1);
	}
	return NULL;
}

/* Keep the QP in ERR flushing for as long as the rounds last. */
static void *feeder(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		err_sq->producer_index = (err_sq->consumer_index + ERR_SQ_MASK) &
					 ERR_SQ_MASK;
		err_rq->producer_index = (err_rq->consumer_index + ERR_RQ_MASK) &
					 ERR_RQ_MASK;
		err_cq->consumer_index = err_cq->producer_index;
		sched_yield();	/* sustained, but leave the CPU to others */
	}
	return NULL;
}

/*
 * A fresh pair; the requester fails against the responder (bad rkey: the
 * responder goes to ERR too) with more queued behind, which flush with
 * error completions; the responder is destroyed meanwhile.
 */
static void destroy_under_errors(struct ctx *c, struct ibv_mr *mr)
{
	struct ibv_sge sge = { (uintptr_t)mr->addr, 64, mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED,
				  .wr.rdma = { (uintptr_t)mr->addr, 0x5a5a5a00 } };
	struct ibv_cq *cq = ibv_create_cq(c->ctx, 4, NULL, NULL, 0);
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *a, *b;
	int i;

	if (!cq)
		_exit(NO_PAIR);
	a = ibv_create_qp(c->pd, &init);
	b = ibv_create_qp(c->pd, &init);
	if (!a || !b || rc_connect(c, a, b->qp_num, ALL_ACCESS, 0) ||
	    rc_connect(c, b, a->qp_num, ALL_ACCESS, 0))
		_exit(NO_PAIR);
	for (i = 0; i < 8; i++)
		post_recv(b, mr, mr->addr, 64, i);
	for (i = 0; i < 12; i++)
		post_send(a, &wr);
	ibv_destroy_qp(b);
	ibv_destroy_qp(a);
	ibv_destroy_cq(cq);
}

static void hostile(void)
{
	const char *tier = getenv("HODP_TIER");
	long rounds = tier && !strcmp(tier, "debug") ? DEBUG_ROUNDS : ROUNDS;
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 600, .max_recv_wr = 1200,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp_attr err = { .qp_state = IBV_QPS_ERR };
	struct ibv_qp_attr to_init = { .qp_state = IBV_QPS_INIT, .port_num = 1 };
	uint8_t *buf = aligned_alloc(4096, 65536);
	struct ibv_cq *err_cq_obj;
	pthread_t rs[2], fd;
	struct ibv_qp *eqp;
	struct ring r[32];
	struct rc_pair p;
	struct ibv_mr *mr;
	struct ctx c;
	long round, i;
	int n;

	open_dev(&c, "hodp0");
	mr = ibv_reg_mr(c.pd, buf, 65536, ALL_ACCESS);
	p = rc_pair(&c, ALL_ACCESS, 7);
	resized_cq = ibv_create_cq(c.ctx, 8, NULL, NULL, 0);
	err_cq_obj = ibv_create_cq(c.ctx, 5000, NULL, NULL, 0);
	init.send_cq = init.recv_cq = err_cq_obj;
	eqp = err_cq_obj ? ibv_create_qp(c.pd, &init) : NULL;
	/* RESET -> INIT -> ERR (the spec has no RESET -> ERR). */
	if (!mr || !resized_cq || !eqp ||
	    ibv_modify_qp(eqp, &to_init, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS) ||
	    ibv_modify_qp(eqp, &err, IBV_QP_STATE))
		_exit(NO_RINGS);
	err_sq = find_ring(ERR_SQ_MASK);
	err_rq = find_ring(ERR_RQ_MASK);
	err_cq = find_ring(ERR_CQ_MASK);
	/* Garbage goes only where the QPs of the pair and the CQ live. */
	n = find_rings(r, 32);
	printf("# hostile: %d rings mapped\n", n);
	fflush(stdout);
	if (!n || !err_sq || !err_rq || !err_cq)
		_exit(NO_RINGS);
	for (i = 0; i < 2; i++)
		pthread_create(&rs[i], NULL, resizer, (void *)i);
	pthread_create(&fd, NULL, feeder, NULL);
	srand(getpid());
	for (round = 0; round < rounds; round++) {
		for (i = 0; i < 64; i++) {
			struct ring *x = &r[rand() % n];
			size_t off = rand() % x->len;

			/* The ERR QP's rings are the feeder's. */
			if (x->start == (uint8_t *)err_sq ||
			    x->start == (uint8_t *)err_rq ||
			    x->start == (uint8_t *)err_cq)
				continue;
			/* Mostly small values, so indices land in range. */
			if (rand() & 1)
				*(uint32_t *)(x->start + (off & ~3UL)) = rand() & 0x3ff;
			else
				x->start[off] = rand();
		}
		raw_doorbell(p.a);
		raw_doorbell(p.b);
		raw_doorbell(eqp);
		ibv_req_notify_cq(c.cq, rand() & 1);
		if (!(round % DESTROY_EVERY))
			destroy_under_errors(&c, mr);
	}
	for (i = 0; i < 2; i++)
		pthread_join(rs[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(fd, NULL);
	printf("# hostile: %ld rounds of garbage and doorbells\n", round);
	fflush(stdout);
	_exit(atomic_load(&resize_bad) ? BAD_RESIZE : DONE);
}

int main(void)
{
	struct ctx c;
	struct rc_pair p;
	uint8_t *src = aligned_alloc(4096, 65536), *dst = aligned_alloc(4096, 65536);
	struct ibv_mr *smr, *dmr;
	unsigned long ok = 0, bad = 0;
	int kmsg = kmsg_open();
	int status, st;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (!pid)
		hostile();
	open_dev(&c, "hodp0");
	smr = ibv_reg_mr(c.pd, src, 65536, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, 65536, ALL_ACCESS);
	check_fatal("bystander MRs", smr && dmr, "%s", strerror(errno));
	p = rc_pair(&c, ALL_ACCESS, 7);

	/* Bystander traffic while the hostile client runs. */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		struct ibv_sge sge = { (uintptr_t)src, 65536, smr->lkey };
		struct ibv_send_wr wr = { .wr_id = ok, .sg_list = &sge,
					  .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED,
					  .wr.rdma = { (uintptr_t)dst, dmr->rkey } };
		struct ibv_wc wc;

		memset(src, (int)(ok & 0xff), 65536);
		if (post_send(p.a, &wr) || (st = poll_one(c.cq, &wc)) != 0 ||
		    memcmp(src, dst, 65536)) {
			bad++;
			break;
		}
		ok++;
	}
	if (!bad)
		waitpid(pid, &status, 0);
	else
		kill(pid, SIGKILL), waitpid(pid, &status, 0);
	check("hostile client finished its rounds",
	      WIFEXITED(status) && WEXITSTATUS(status) == DONE,
	      WIFSIGNALED(status) ? "killed by signal %d" : "exit status %d",
	      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	check("bystander QPs kept working during the attack", !bad && ok > 10,
	      "%lu good writes, %lu bad", ok, bad);
	{
		struct ibv_sge sge = { (uintptr_t)src, 4096, smr->lkey };
		struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED,
					  .wr.rdma = { (uintptr_t)dst, dmr->rkey } };
		struct ibv_wc wc;

		memset(src, 0x3c, 4096);
		st = post_send(p.a, &wr) ? -2 : poll_one(c.cq, &wc);
		check("and after it", st == 0 && !memcmp(src, dst, 4096),
		      "status %d", st);
	}
	printf("# bystander: %lu checked 64 KiB writes\n", ok);
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
