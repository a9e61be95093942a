import { describeRegionStack } from "./stackPolicies";

describeRegionStack("us-east");
