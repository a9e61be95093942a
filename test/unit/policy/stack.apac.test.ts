import { describeRegionStack } from "./stackPolicies";

describeRegionStack("apac");
