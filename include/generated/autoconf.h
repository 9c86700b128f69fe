/*
 * Automatically generated file; DO NOT EDIT.
 * hodp out-of-tree modules for linux-headers-6.1.0-56-amd64
 */
#define CONFIG_INFINIBAND_HODP 1
#define CONFIG_MMU_NOTIFIER 1
#define CONFIG_INFINIBAND_VIRT_DMA 1
#define CONFIG_HMM_DMIRROR 1
#define CONFIG_HMM_MIRROR_CORE 1
#define CONFIG_INFINIBAND_USER_ACCESS 1
#define CONFIG_INET 1
#define CONFIG_HMM_MIRROR 1
#define CONFIG_INFINIBAND 1
#define CONFIG_INFINIBAND_ON_DEMAND_PAGING 1
#define CONFIG_MMU 1
