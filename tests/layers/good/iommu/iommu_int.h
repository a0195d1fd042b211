#include "pcie/pcie.h"
