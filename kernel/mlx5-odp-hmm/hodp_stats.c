// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the port's counters, as an operator reads them (rdma statistic
 * show link hodpN/1, or /sys/class/infiniband/hodpN/ports/1/hw_counters/).
 * The requester counts what it moved where it completes a WQE: the traffic
 * an application ran, known without trusting the application's own clock
 * (perftest's calibration fails under emulation; the tests check bytes).
 *
 * The counters are device-wide and only grow; a reader sees each one
 * atomically, not all of them at one instant.
 */
#include "hodp.h"

static const struct rdma_stat_desc hodp_stat_descs[HODP_NR_COUNTERS] = {
	[HODP_CNT_WQES]		= { .name = "req_wqes" },
	[HODP_CNT_SEND_BYTES]	= { .name = "send_bytes" },
	[HODP_CNT_WRITE_BYTES]	= { .name = "write_bytes" },
	[HODP_CNT_READ_BYTES]	= { .name = "read_bytes" },
	[HODP_CNT_ATOMICS]	= { .name = "atomic_ops" },
	[HODP_CNT_RNR_WAITS]	= { .name = "rnr_waits" },
	[HODP_CNT_RETRY_WAITS]	= { .name = "retry_waits" },
	[HODP_CNT_WQE_ERRORS]	= { .name = "wqe_errors" },
	[HODP_CNT_ODP_FAULTS]	= { .name = "odp_faults" },
};

/**
 * hodp_count_wqe() - count a WQE the requester completed
 * @dev: its device
 * @opcode: the WQE's opcode (IB_WR_*)
 * @len: its payload length
 * @status: how it completed (flushed WQEs are not counted: they never ran)
 */
void hodp_count_wqe(struct hodp_dev *dev, u32 opcode, u32 len,
		    enum ib_wc_status status)
{
	enum hodp_counter c;

	if (status != IB_WC_SUCCESS) {
		hodp_count(dev, HODP_CNT_WQE_ERRORS);
		return;
	}
	hodp_count(dev, HODP_CNT_WQES);
	switch (opcode) {
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		c = HODP_CNT_WRITE_BYTES;
		break;
	case IB_WR_RDMA_READ:
		c = HODP_CNT_READ_BYTES;
		break;
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		hodp_count(dev, HODP_CNT_ATOMICS);
		return;
	default:
		c = HODP_CNT_SEND_BYTES;
		break;
	}
	atomic64_add(len, &dev->counters[c]);
}

/* ib_device_ops.alloc_hw_port_stats: the one port's set of counters. */
struct rdma_hw_stats *hodp_alloc_hw_port_stats(struct ib_device *ibdev,
					       u32 port_num)
{
	return rdma_alloc_hw_stats_struct(hodp_stat_descs, HODP_NR_COUNTERS,
					  RDMA_HW_STATS_DEFAULT_LIFESPAN);
}

/* ib_device_ops.get_hw_stats: read them all (they are cheap to read). */
int hodp_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
		      u32 port, int index)
{
	struct hodp_dev *dev = to_hdev(ibdev);
	int i;

	if (!port || stats->num_counters != HODP_NR_COUNTERS)
		return -EINVAL;
	for (i = 0; i < HODP_NR_COUNTERS; i++)
		stats->value[i] = atomic64_read(&dev->counters[i]);
	return HODP_NR_COUNTERS;
}
