#include "pcie/link.h"
#include "iommu/iommu.h"
