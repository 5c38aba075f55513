#include "kratixfs/template.h"
