#include "pcie/link.h"
