#include "iommu/iommu.h"
#include "pcie/pcie.h"
