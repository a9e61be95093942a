import { describeRegionStack } from "./stackPolicies";

describeRegionStack("eu-west");
