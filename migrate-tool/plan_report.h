// The output of `mkd-migrate plan` (plan.h): a table for people and JSON for schedulers, one
// formatter each (docs/placement.md documents the JSON). Pure; thread-safe.
#ifndef MKD_MIGRATE_TOOL_PLAN_REPORT_H_
#define MKD_MIGRATE_TOOL_PLAN_REPORT_H_

#include <nlohmann/json.hpp>
#include <string>

#include "migrate-tool/plan.h"

namespace mkd::migrate {

std::string FormatPlan(const Plan& plan);
nlohmann::json PlanToJson(const Plan& plan);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PLAN_REPORT_H_
